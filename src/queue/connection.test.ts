import { createServer, type Server } from 'node:net';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseQueueUrl, probeQueue, QueueConnections } from './connection.ts';
import { freePort, redisServerAvailable, startRedis, startTlsRedis, tlsRedisAvailable, type RedisTestServer } from '../../tests/helpers/redis-server.ts';

describe('the queue address', () => {
  it('takes host, port, database and credentials, and never shows the password', () => {
    const a = parseQueueUrl('redis://ci:s3cret@10.0.0.5:6380/2');
    expect(a.target).toEqual({ host: '10.0.0.5', port: 6380, db: 2, username: 'ci', password: 's3cret' });
    expect(a.url).toBe('redis://ci:***@10.0.0.5:6380/2');
    expect(parseQueueUrl('redis://redis').target).toEqual({ host: 'redis', port: 6379, db: 0 });
    expect(parseQueueUrl('rediss://:pw@cache.example:6380').target).toEqual({ host: 'cache.example', port: 6380, db: 0, password: 'pw', tls: {} });
  });

  it('refuses what is not redis://HOST[:PORT][/DB], as a usage error', () => {
    for (const bad of ['10.0.0.5:6379', 'http://10.0.0.5:6379', 'redis://10.0.0.5:6379/queue']) {
      expect(() => parseQueueUrl(bad), bad).toThrow(expect.objectContaining({ code: 'QUEUE_URL', exitCode: 2 }));
    }
  });

  it('a Redis that is not there: QUEUE_UNREACHABLE naming it, without its password', async () => {
    const port = await freePort();
    await expect(probeQueue(parseQueueUrl(`redis://:pw@127.0.0.1:${port}`))).rejects.toThrow(`the job queue's Redis redis://:***@127.0.0.1:${port} cannot be reached: ECONNREFUSED`);
  });

  it('a server that takes the connection and never answers: QUEUE_UNREACHABLE within the bound, not a wait forever', async () => {
    const sockets: import('node:net').Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const t0 = Date.now();
    await expect(probeQueue(parseQueueUrl(`redis://127.0.0.1:${port}`), 500)).rejects.toThrow(/cannot be reached: .*(no answer within 500 ms|ETIMEDOUT)/);
    expect(Date.now() - t0).toBeLessThan(5000);
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  });
});

const HAVE_REDIS = redisServerAvailable();
let redis: RedisTestServer;
beforeAll(async () => {
  if (HAVE_REDIS) redis = await startRedis(['--requirepass', 'sesame']);
});
afterAll(async () => {
  await redis?.stop();
});

// skip-reason: no redis-server on this machine (.ci/run installs Debian's)
describe.skipIf(!HAVE_REDIS)('ioredis connections to a real redis-server', () => {
  it('PING with the right password passes; a wrong one is QUEUE_UNREACHABLE with Redis\'s reason and the password hidden', async () => {
    await probeQueue(parseQueueUrl(`redis://:sesame@127.0.0.1:${redis.port}`));
    const wrong = probeQueue(parseQueueUrl(`redis://:guess@127.0.0.1:${redis.port}`));
    await expect(wrong).rejects.toThrow(`the job queue's Redis redis://:***@127.0.0.1:${redis.port} cannot be reached: WRONGPASS`);
    await expect(wrong).rejects.not.toThrow(/guess/);
  });

  it('a BullMQ queue on a made connection adds and reads a job, and closeAll leaves no connection open', async () => {
    const connections = new QueueConnections(parseQueueUrl(`redis://:sesame@127.0.0.1:${redis.port}/3`));
    const queue = new Queue('qrun-connection-test', { connection: connections.make() });
    const job = await queue.add('x', { n: 1 });
    expect(await queue.getJobState(job.id!)).toBe('waiting');
    await queue.close();
    connections.closeAll();
    // The server counts its clients: only the one asking is left.
    const admin = new QueueConnections(parseQueueUrl(`redis://:sesame@127.0.0.1:${redis.port}`)).make();
    await new Promise((r) => setTimeout(r, 100));
    const list = String(await admin.client('LIST')).trim().split('\n');
    admin.disconnect();
    expect(list.length, list.join('\n')).toBe(1);
  });
});

// skip-reason: no redis-server or no openssl on this machine (.ci/run installs redis-server; Debian's speaks TLS)
describe.skipIf(!tlsRedisAvailable())('rediss://', () => {
  it('speaks TLS and checks the certificate: a self-signed one that nobody trusts is QUEUE_UNREACHABLE naming why', async () => {
    const tls = await startTlsRedis();
    try {
      await expect(probeQueue(parseQueueUrl(tls.url))).rejects.toThrow(`the job queue's Redis ${tls.url} cannot be reached: DEPTH_ZERO_SELF_SIGNED_CERT (self-signed certificate)`);
      // The same server, spoken to without TLS: no Redis answer.
      await expect(probeQueue(parseQueueUrl(tls.url.replace('rediss:', 'redis:')), 1000)).rejects.toThrow(/cannot be reached/);
    } finally {
      await tls.stop();
    }
  });
});
