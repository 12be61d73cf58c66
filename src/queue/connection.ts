// The job queue's Redis: `--queue redis://HOST:PORT[/DB]` parsed, checked once with PING (a clear
// QUEUE_UNREACHABLE naming the address, instead of BullMQ retrying forever), and a fresh client for
// each BullMQ object (each keeps its own connections: a worker's blocking wait must not hold up the
// commands of the others).
import { createBunRedisClient } from 'bullmq';
import { errors } from '../errors.ts';
import { RespClient, type RedisTarget } from './redis-client.ts';

export interface QueueAddress {
  /** The address as messages show it: a password in it is replaced by ***. */
  url: string;
  target: RedisTarget;
}

export function parseQueueUrl(url: string): QueueAddress {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw errors.queueUrlInvalid(url);
  }
  if (u.protocol !== 'redis:' || !u.hostname) throw errors.queueUrlInvalid(url);
  const db = u.pathname.replace(/^\//, '');
  if (db && !/^\d+$/.test(db)) throw errors.queueUrlInvalid(url);
  const target: RedisTarget = {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 6379,
    db: db ? Number(db) : 0,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
  // Messages and logs name the Redis without its password.
  if (u.password) u.password = '***';
  return { url: target.password ? u.toString().replace(/\/$/, '') : url, target };
}

/** PING within a few seconds, or QUEUE_UNREACHABLE with the reason (refused, unknown host, timeout, auth). */
export async function probeQueue(address: QueueAddress, timeoutMs = Number(process.env.QRUN_QUEUE_CONNECT_TIMEOUT_MS) || 5000): Promise<void> {
  const client = new RespClient(address.target);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect().then(() => client.send('PING')),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs))),
    ]);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw errors.queueUnreachable(address.url, err.code ? `${err.code} (${err.message})` : err.message);
  } finally {
    clearTimeout(timer);
    client.close();
  }
}

/**
 * Connections for BullMQ objects (Queue, Worker, FlowProducer, QueueEvents): our client inside
 * BullMQ's own adapter, which connects it and duplicates it for blocking reads. BullMQ leaves a
 * connection it was handed open when the object closes, so `closeAll()` ends them after that.
 */
export class QueueConnections {
  private readonly made: { disconnect(): unknown }[] = [];

  constructor(readonly address: QueueAddress) {}

  /** A new connection for one BullMQ object. */
  make(): never {
    const client = createBunRedisClient(new RespClient(this.address.target) as never) as unknown as { disconnect(): unknown };
    this.made.push(client);
    return client as never;
  }

  closeAll(): void {
    for (const c of this.made.splice(0)) c.disconnect();
  }
}
