// The small RESP2 client against a real redis-server: replies split across TCP chunks (a 3 MiB
// value), many commands in flight at once, nested arrays, nil, integers, error replies, binary
// arguments, and a closed connection rejecting what was pending.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisServerAvailable, startRedis, type RedisTestServer } from '../../tests/helpers/redis-server.ts';
import { RespClient } from './redis-client.ts';

const HAVE_REDIS = redisServerAvailable();
let redis: RedisTestServer;
beforeAll(async () => {
  if (HAVE_REDIS) redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

// skip-reason: no redis-server on this machine (.ci/run installs Debian's)
describe.skipIf(!HAVE_REDIS)('RespClient', () => {
  const client = async () => {
    const c = new RespClient({ host: '127.0.0.1', port: redis.port, db: 0 });
    await c.connect();
    return c;
  };

  it('reads every reply type, in order, with many commands in flight and a reply larger than a TCP chunk', async () => {
    const c = await client();
    const big = 'x'.repeat(3 * 2 ** 20);
    const replies = await Promise.all([
      c.send('SET', ['big', big]),
      c.send('GET', ['big']),
      c.send('GET', ['missing']),
      c.send('RPUSH', ['list', 'a', Buffer.from([0xc3, 0xa9]), '3']),
      c.send('LRANGE', ['list', '0', '-1']),
      c.send('EVAL', ["return {1, 'two', {3, 'four'}, false}", '0']),
      ...Array.from({ length: 200 }, (_, i) => c.send('INCR', ['n']).then((v) => (i === 199 ? v : undefined))),
    ]);
    expect(replies.slice(0, 6)).toEqual(['OK', big, null, 3, ['a', 'é', '3'], [1, 'two', [3, 'four'], null]]);
    expect(replies.at(-1)).toBe(200);
    await expect(c.send('INCR', ['list'])).rejects.toThrow(/WRONGTYPE/);
    expect(await c.send('PING')).toBe('PONG');
    c.close();
  });

  it('rejects the commands pending when the connection closes, and says it is closed after', async () => {
    const c = await client();
    let closed = false;
    c.onclose = () => (closed = true);
    const blocked = c.send('BLPOP', ['nothing-here', '5']);
    c.close();
    await expect(blocked).rejects.toThrow(/Connection closed/);
    expect(closed).toBe(true);
    await expect(c.send('PING')).rejects.toThrow(/Connection is closed/);
  });
});
