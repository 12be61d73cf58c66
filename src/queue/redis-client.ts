// A small Redis client (RESP2 over one TCP connection) in the shape BullMQ accepts as a "Bun-style"
// raw client: `send(command, args)`, `connected`, `connect()`, `close()`, `duplicate()` and the
// onconnect/onclose callbacks. BullMQ 6 wraps it in its own adapter (createBunRedisClient), which
// does the Lua scripts, transactions, reconnects and reply shaping.
//
// Why not ioredis: BullMQ 6 no longer depends on it (it is an optional peer) and, under ESM, cannot
// load it by itself; it is not among this project's packages. BullMQ's own adapter needs only this
// much of a client, and RESP2 is the protocol BullMQ's Lua scripts are written for (ioredis speaks
// it too). Should ioredis join package.json, `connection: new IORedis(url, { maxRetriesPerRequest:
// null })` in src/queue/connection.ts replaces this file.
import { connect as tcpConnect, type Socket } from 'node:net';

export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
}

type Reply = string | number | null | Error | Reply[];

/** Parses one RESP2 reply at `at`; undefined when the buffer does not hold all of it yet. */
function parseReply(buf: Buffer, at: number): { value: Reply; next: number } | undefined {
  if (at >= buf.length) return undefined;
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[at]!);
  const line = buf.toString('utf8', at + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return { value: line, next };
    case '-':
      return { value: new Error(line), next };
    case ':':
      return { value: Number(line), next };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, next };
      if (buf.length < next + len + 2) return undefined;
      return { value: buf.toString('utf8', next, next + len), next: next + len + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next };
      const items: Reply[] = [];
      let pos = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, pos);
        if (!item) return undefined;
        items.push(item.value);
        pos = item.next;
      }
      return { value: items, next: pos };
    }
    default:
      throw new Error(`unexpected Redis reply type "${type}"`);
  }
}

function encodeCommand(command: string, args: (string | Buffer | number)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length + 1}\r\n$${Buffer.byteLength(command)}\r\n${command}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

export class RespClient {
  connected = false;
  onconnect: () => void = () => undefined;
  onclose: (error?: Error) => void = () => undefined;
  onerror: (error: Error) => void = () => undefined;
  private socket?: Socket;
  private pending: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private closing = false;

  constructor(readonly target: RedisTarget) {}

  get url(): string {
    return `redis://${this.target.host}:${this.target.port}/${this.target.db}`;
  }

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = tcpConnect({ host: this.target.host, port: this.target.port });
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 10_000);
      let opened = false;
      socket.once('connect', async () => {
        opened = true;
        this.socket = socket;
        this.connected = true;
        try {
          if (this.target.password) await this.send('AUTH', this.target.username ? [this.target.username, this.target.password] : [this.target.password]);
          if (this.target.db) await this.send('SELECT', [String(this.target.db)]);
        } catch (e) {
          socket.destroy();
          reject(e as Error);
          return;
        }
        resolve();
        this.onconnect();
      });
      socket.on('data', (chunk: Buffer) => this.receive(chunk));
      socket.on('error', (e) => {
        if (!opened) reject(e);
        else this.onerror(e);
      });
      socket.on('close', () => {
        const wasOpen = this.connected;
        this.connected = false;
        const err = new Error(this.closing ? 'Connection closed' : 'Socket closed unexpectedly');
        for (const p of this.pending.splice(0)) p.reject(err);
        if (wasOpen) this.onclose(this.closing ? undefined : err);
      });
    });
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    let at = 0;
    for (;;) {
      const r = parseReply(this.buffer, at);
      if (!r) break;
      at = r.next;
      const p = this.pending.shift();
      if (!p) continue;
      if (r.value instanceof Error) p.reject(r.value);
      else p.resolve(r.value);
    }
    this.buffer = at >= this.buffer.length ? Buffer.alloc(0) : this.buffer.subarray(at);
  }

  send(command: string, args: (string | Buffer | number)[] = []): Promise<unknown> {
    const socket = this.socket;
    if (!socket || !this.connected) return Promise.reject(new Error('Connection is closed.'));
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      socket.write(encodeCommand(command, args));
    });
  }

  close(): void {
    this.closing = true;
    this.socket?.destroy();
  }

  async duplicate(): Promise<RespClient> {
    const c = new RespClient(this.target);
    await c.connect();
    return c;
  }
}
