// The job queue's Redis: `--queue redis://HOST:PORT[/DB]` parsed, checked once with PING (a clear
// QUEUE_UNREACHABLE naming the address, instead of ioredis retrying forever), and a fresh ioredis
// client for each BullMQ object, as BullMQ documents: `maxRetriesPerRequest: null`, so a command
// waits through a reconnect instead of failing after 20 tries; a Worker duplicates its client for
// its blocking wait (BZPOPMIN) and owns the duplicates, and leaves the client it was handed open,
// so `closeAll()` ends those after the BullMQ objects have closed.
import { Redis, type RedisOptions } from 'ioredis';
import { errors } from '../errors.ts';

export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  /** rediss://: TLS, the server's certificate checked against Node's CAs (add a private CA with NODE_EXTRA_CA_CERTS). */
  tls?: Record<string, never>;
}

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
  if ((u.protocol !== 'redis:' && u.protocol !== 'rediss:') || !u.hostname) throw errors.queueUrlInvalid(url);
  const db = u.pathname.replace(/^\//, '');
  if (db && !/^\d+$/.test(db)) throw errors.queueUrlInvalid(url);
  const target: RedisTarget = {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 6379,
    db: db ? Number(db) : 0,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  // Messages and logs name the Redis without its password.
  if (u.password) u.password = '***';
  return { url: target.password ? u.toString().replace(/\/$/, '') : url, target };
}

/** ioredis's reason for a failed connection (its messages never hold the password). */
function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  // A refused or unknown host comes as the socket's error (code ECONNREFUSED, ENOTFOUND); a connect
  // timeout as ETIMEDOUT; a wrong password as Redis's own reply (WRONGPASS …, NOAUTH …).
  return err.code && !err.message.startsWith(err.code) ? `${err.code} (${err.message})` : err.message;
}

/** PING within a few seconds, or QUEUE_UNREACHABLE with the reason (refused, unknown host, timeout, auth). */
export async function probeQueue(address: QueueAddress, timeoutMs = Number(process.env.QRUN_QUEUE_CONNECT_TIMEOUT_MS) || 5000): Promise<void> {
  // One attempt, bounded: no reconnects (retryStrategy null), no offline queue (a command while not
  // connected fails at once), a connect timeout, and the whole probe under the same bound (a server
  // that accepts the socket but never answers the PING).
  const client = new Redis({
    ...address.target,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
  });
  let firstError: unknown;
  // ioredis reports connection errors as 'error' events too; without a listener it prints them.
  client.on('error', (e) => (firstError ??= e));
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect().then(() => client.ping()),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs))),
    ]);
  } catch (e) {
    // connect() rejects with "Connection is closed." once the socket's own error has been emitted: name that one.
    throw errors.queueUnreachable(address.url, reason(firstError ?? e));
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

/** How ioredis reconnects a BullMQ connection that dropped: BullMQ's own backoff (1 s, then e^n ms, at most 20 s), forever. */
const reconnectDelay = (times: number) => Math.max(Math.min(Math.exp(times), 20_000), 1000);

/** A connection error, as opposed to an error Redis answered with. */
export function isConnectionError(e: Error): boolean {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'].includes(code) || /Connection is closed|connect ETIMEDOUT|Stream isn't writeable/i.test(e.message);
}

/** What a QueueConnections says when its Redis goes away and when it is back. */
export interface ConnectionEvents {
  lost?(reason: string): void;
  back?(afterMs: number): void;
}

/**
 * Connections for BullMQ objects (Queue, Worker, FlowProducer): one ioredis client each. BullMQ
 * leaves a client it was handed open when the object closes, so `closeAll()` ends them after that.
 * It also follows them: a connection that closes (Redis stopped, the network gone) starts an
 * outage, told once through `events.lost`, and the first connection ready again ends it
 * (`events.back`); ioredis reconnects meanwhile, and commands wait for it (maxRetriesPerRequest null).
 */
export class QueueConnections {
  private readonly made: Redis[] = [];
  private closing = false;
  private downSince?: number;
  private lostTold = false;
  private lostTimer?: NodeJS.Timeout;
  /** The last connection error (ECONNREFUSED …), for messages. */
  lastError?: Error;

  constructor(
    readonly address: QueueAddress,
    private readonly events: ConnectionEvents = {},
  ) {}

  /** A new connection for one BullMQ object. */
  make(extra: RedisOptions = {}): Redis {
    const client = new Redis({ ...this.address.target, maxRetriesPerRequest: null, retryStrategy: reconnectDelay, ...extra });
    client.on('error', (e: Error) => {
      this.lastError = e;
      // A server that went away closes the socket without an error; the first reconnect says why (ECONNREFUSED …).
      if (this.downSince !== undefined) this.tellLost(reason(e));
    });
    client.on('close', () => {
      if (this.closing || this.downSince !== undefined) return;
      this.downSince = Date.now();
      this.lostTold = false;
      this.lostTimer = setTimeout(() => this.tellLost('the connection closed'), 3000);
      this.lostTimer.unref();
    });
    client.on('ready', () => {
      if (this.downSince === undefined) return;
      const ms = Date.now() - this.downSince;
      this.downSince = undefined;
      clearTimeout(this.lostTimer);
      // Back before anyone was told it was gone (a reconnect within a second): nothing to say.
      if (this.lostTold) this.events.back?.(ms);
    });
    this.made.push(client);
    return client;
  }

  private tellLost(why: string): void {
    if (this.lostTold || this.closing) return;
    this.lostTold = true;
    clearTimeout(this.lostTimer);
    this.events.lost?.(why);
  }

  /** Resolves once a connection is ready again (at once when none is away). */
  async whenUp(): Promise<void> {
    while (this.downSince !== undefined && !this.closing) await new Promise((r) => setTimeout(r, 100));
  }

  /** Whether any connection is not ready (away, or reconnecting). */
  anyAway(): boolean {
    return this.downSince !== undefined || this.made.some((c) => c.status !== 'ready');
  }

  /** How long the Redis has been away (0 while connected). */
  downForMs(): number {
    return this.downSince === undefined ? 0 : Date.now() - this.downSince;
  }

  /**
   * `work` (BullMQ calls, which wait through reconnects), or QUEUE_CONNECTION_LOST when it has not
   * settled within `limitMs` — normally milliseconds; longer means the Redis is down, or takes the
   * connection and does not answer.
   */
  async bounded<T>(work: Promise<T>, limitMs: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    // Given up on, it may still reject later, when the connections are closed.
    work.catch(() => undefined);
    try {
      return await Promise.race([
        work,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(errors.queueConnectionLost(this.address.url, Math.round(limitMs / 1000), this.lastError ? reason(this.lastError) : 'no answer')), limitMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  closeAll(): void {
    this.closing = true;
    clearTimeout(this.lostTimer);
    for (const c of this.made.splice(0)) c.disconnect();
  }
}
