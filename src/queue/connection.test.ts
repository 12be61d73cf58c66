import { describe, expect, it } from 'vitest';
import { parseQueueUrl, probeQueue } from './connection.ts';
import { freePort } from '../../tests/helpers/redis-server.ts';

describe('the queue address', () => {
  it('takes host, port, database and credentials, and never shows the password', () => {
    const a = parseQueueUrl('redis://ci:s3cret@10.0.0.5:6380/2');
    expect(a.target).toEqual({ host: '10.0.0.5', port: 6380, db: 2, username: 'ci', password: 's3cret' });
    expect(a.url).toBe('redis://ci:***@10.0.0.5:6380/2');
    expect(parseQueueUrl('redis://redis').target).toEqual({ host: 'redis', port: 6379, db: 0 });
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
});
