// A throwaway redis-server on a free loopback port, with no persistence, for the job-queue tests.
// Debian's redis-server; .ci/run installs it when it is missing. `available` is false (and the
// queue tests say so and skip) on a machine without it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_SERVER = process.env.QRUN_TEST_REDIS_SERVER ?? 'redis-server';

export function redisServerAvailable(): boolean {
  try {
    execFileSync(REDIS_SERVER, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RedisTestServer {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startRedis(extraArgs: string[] = [], port?: number): Promise<RedisTestServer> {
  port ??= await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'qrun-redis-'));
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs], { stdio: 'ignore' });
  const t0 = Date.now();
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1', () => {
        c.end();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() - t0 > 10_000 || child.exitCode !== null) throw new Error(`redis-server did not start on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    process: child,
    stop: () =>
      new Promise((resolve) => {
        // Already gone (a test killed it: then exitCode stays null and signalCode is set).
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Whether a TLS Redis can be made here: openssl for the certificate (Debian's redis-server has TLS built in). */
export function tlsRedisAvailable(): boolean {
  if (!redisServerAvailable()) return false;
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * A redis-server that speaks only TLS (rediss://localhost:PORT), with a self-signed certificate for
 * localhost made by openssl: `caFile` is what a client must trust (NODE_EXTRA_CA_CERTS=caFile).
 */
export async function startTlsRedis(): Promise<RedisTestServer & { caFile: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'qrun-redis-tls-'));
  const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
  const port = await freePort();
  const server = await startRedis(['--port', '0', '--tls-port', String(port), '--tls-cert-file', cert, '--tls-key-file', key, '--tls-auth-clients', 'no'], port);
  return { ...server, url: `rediss://localhost:${port}`, caFile: cert };
}
