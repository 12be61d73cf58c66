// Locks that expire: a lock is a folder (mkdir/rename are atomic, also on NFS) that its holder keeps
// fresh by touching its mtime (proper-lockfile's heartbeat, as wireit uses). A lock whose mtime
// stopped moving for QRUN_LOCK_STALE seconds is stale and taken over, wherever the holder ran and
// whatever its PID now names. A PID alone proves nothing (it is reused, qrun is PID 1 in every
// container, another host has its own), so it is only used to free a lock early when it is
// conclusive: same host, same kernel boot, same PID namespace, and that process is gone or is a
// different process (another start time).
//
// Each lock folder holds holder.json (pid, host, start, command), written before the folder takes
// the lock's name, so a waiter can say who holds it and the record can never belong to someone else.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import lockfile from 'proper-lockfile';
import { errors } from '../errors.ts';

export interface LockHolder {
  pid: number;
  host: string;
  /** Kernel boot id and PID namespace: PIDs of two processes compare only when these match. */
  pidSpace?: string;
  /** Start time of `pid` in clock ticks after boot (/proc/<pid>/stat field 22): tells a reused PID. */
  startTicks?: number;
  since: string;
  command: string;
  /** Tells this holder's record from the next holder's of the same lock. */
  token: string;
}

export interface HeldLock {
  readonly file: string;
  /** Aborted when another process took the lock over (our heartbeat stopped for too long). */
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

export type LockState =
  | { state: 'free' }
  | { state: 'held'; holder?: LockHolder }
  /** Still on disk but nobody holds it: the heartbeat stopped, or the holder is provably gone. */
  | { state: 'abandoned'; holder?: LockHolder; why: string };

const HOLDER_FILE = 'holder.json';

function secondsFromEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw errors.usage(`${name}=${raw} is not a number of seconds`, `unset ${name} or set it to e.g. ${fallback}`);
  return Math.max(n, min);
}

/** How long a lock may go without a heartbeat before it is stale (proper-lockfile's floor is 2 s). */
export const lockStaleMs = () => secondsFromEnv('QRUN_LOCK_STALE', 60, 2) * 1000;
/** How long `acquireLock` waits for a live holder before giving up with LOCK_TIMEOUT. */
export const lockTimeoutMs = () => secondsFromEnv('QRUN_LOCK_TIMEOUT', 600, 0) * 1000;

/** Who this process is, as lock records and run journals write it. */
export type ProcessIdentity = Pick<LockHolder, 'pid' | 'host' | 'pidSpace' | 'startTicks' | 'command'>;

let self: ProcessIdentity | undefined;
export function processIdentity(): ProcessIdentity {
  self ??= {
    pid: process.pid,
    host: hostname(),
    pidSpace: pidSpace(),
    startTicks: startTicks(process.pid),
    command: ['qrun', ...process.argv.slice(2)].join(' '),
  };
  return self;
}

function pidSpace(): string | undefined {
  try {
    const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return `${boot}/${fs.readlinkSync('/proc/self/ns/pid')}`;
  } catch {
    return undefined; // not Linux: PIDs are never trusted, only heartbeats
  }
}

function startTicks(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
    const n = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why the process `who` is provably not running any more, or undefined when it may be: only on the
 * same host, kernel boot and PID namespace is a PID conclusive (and then with its start time).
 */
export function processGone(who: Pick<LockHolder, 'pid' | 'host' | 'pidSpace' | 'startTicks'>): string | undefined {
  const me = processIdentity();
  if (who.host !== me.host || !who.pidSpace || who.pidSpace !== me.pidSpace) return undefined;
  try {
    process.kill(who.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return `process ${who.pid} has exited`;
  }
  const ticks = startTicks(who.pid);
  if (who.startTicks !== undefined && ticks !== undefined && ticks !== who.startTicks) return `process ${who.pid} has exited (the id now names another process)`;
  return undefined;
}

/**
 * proper-lockfile's file system, changed in two places. mkdir: the folder is made under a private
 * name with holder.json inside, then renamed to the lock's name (atomic; fails if a lock is there),
 * so holder.json exists exactly when the lock does. rmdir: the folder is renamed aside before it is
 * deleted, so a lock made in its place meanwhile is never deleted with it.
 */
const lockFsFor = (holder: LockHolder) => ({
  ...fs,
  mkdir(path: string, cb: (err: NodeJS.ErrnoException | null) => void) {
    const staging = `${path}.${randomBytes(6).toString('hex')}.new`;
    const undo = (err: NodeJS.ErrnoException) => fs.rm(staging, { recursive: true, force: true }, () => cb(err));
    fs.mkdir(staging, (err) => {
      if (err) return cb(err);
      fs.writeFile(join(staging, HOLDER_FILE), JSON.stringify(holder) + '\n', (err) => {
        if (err) return undo(err);
        fs.rename(staging, path, (err) => {
          if (!err) return cb(null);
          // A lock folder is never empty, so rename onto one fails: the lock is taken.
          if (err.code === 'ENOTEMPTY' || err.code === 'EEXIST' || err.code === 'ENOTDIR') err.code = 'EEXIST';
          undo(err);
        });
      });
    });
  },
  rmdir(path: string, cb: (err: NodeJS.ErrnoException | null) => void) {
    const aside = `${path}.${randomBytes(6).toString('hex')}.old`;
    fs.rename(path, aside, (err) => {
      if (err) return cb(err);
      fs.rm(aside, { recursive: true, force: true }, () => cb(null));
    });
  },
  // proper-lockfile removes held locks from a process 'exit' hook, where only sync calls run.
  rmdirSync(path: string) {
    const aside = `${path}.${randomBytes(6).toString('hex')}.old`;
    fs.renameSync(path, aside);
    fs.rmSync(aside, { recursive: true, force: true });
  },
});

async function readHolder(file: string): Promise<LockHolder | undefined> {
  try {
    const h = JSON.parse(await readFile(join(file, HOLDER_FILE), 'utf8')) as LockHolder;
    return typeof h.pid === 'number' ? h : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the lock folder `file` is held, free, or left behind by a holder that is gone. */
export async function inspectLock(file: string): Promise<LockState> {
  let mtimeMs: number;
  try {
    const s = await fs.promises.stat(file);
    if (!s.isDirectory()) return { state: 'abandoned', why: 'it is a lock file of an earlier qrun version, which never expire' };
    mtimeMs = s.mtimeMs;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'free' };
    throw e;
  }
  const holder = await readHolder(file);
  const stale = lockStaleMs();
  if (mtimeMs < Date.now() - stale) return { state: 'abandoned', holder, why: `no heartbeat for ${Math.round((Date.now() - mtimeMs) / 1000)} s (stale after ${stale / 1000} s)` };
  const gone = holder && processGone(holder);
  if (gone) return { state: 'abandoned', holder, why: gone };
  return { state: 'held', holder };
}

/**
 * Removes an abandoned lock. It is renamed aside first and its record checked: if another process
 * took the lock in the meantime (the record is not the one judged abandoned), it is put back.
 */
async function breakLock(file: string, judged: LockState & { state: 'abandoned' }): Promise<void> {
  const aside = join(dirname(file), `${basename(file)}.${randomBytes(6).toString('hex')}.old`);
  try {
    await rename(file, aside);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') return void (await rm(file, { force: true })); // an old-style lock file
    throw e;
  }
  const now = await readHolder(aside);
  if (judged.holder && now && now.token !== judged.holder.token) {
    await rename(aside, file).catch(() => undefined);
    return;
  }
  await rm(aside, { recursive: true, force: true });
}

/** One attempt: the lock, or undefined when a live holder has it. */
export async function tryLock(file: string): Promise<HeldLock | undefined> {
  for (;;) {
    const lost = new AbortController();
    const holder: LockHolder = { ...processIdentity(), since: new Date().toISOString(), token: randomBytes(8).toString('hex') };
    const stale = lockStaleMs();
    try {
      const release = await lockfile.lock(file, {
        lockfilePath: file,
        realpath: false,
        retries: 0,
        stale,
        // Several heartbeats per stale period, so a busy event loop misses some and still holds on.
        update: Math.max(1000, Math.floor(stale / 6)),
        fs: lockFsFor(holder),
        onCompromised: (err) => {
          lost.abort(errors.lockLost(file, err.message));
        },
      });
      return {
        file,
        lost: lost.signal,
        release: async () => {
          await release().catch((e: NodeJS.ErrnoException) => {
            // Already released or taken over: nothing of ours is left to remove.
            if (e.code !== 'ERELEASED' && e.code !== 'ENOTACQUIRED') throw e;
          });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') throw e;
    }
    const state = await inspectLock(file);
    if (state.state === 'held') return undefined;
    if (state.state === 'abandoned') await breakLock(file, state);
  }
}

export function describeHolder(holder: LockHolder | undefined): string {
  if (!holder) return 'an unknown process (the lock has no holder record)';
  return `pid ${holder.pid} on host ${holder.host} since ${holder.since} (${holder.command})`;
}

/**
 * Takes the lock, waiting while a live process holds it: at most QRUN_LOCK_TIMEOUT seconds, then
 * LOCK_TIMEOUT names the lock, its holder and how to clear it. `onWait` is told once who holds it;
 * `signal` (Ctrl-C, SIGTERM) ends the wait with its reason.
 */
export async function acquireLock(file: string, onWait?: (holder: LockHolder | undefined) => void, signal?: AbortSignal): Promise<HeldLock> {
  const timeout = lockTimeoutMs();
  const deadline = Date.now() + timeout;
  let delay = 100;
  let warned = false;
  for (;;) {
    signal?.throwIfAborted();
    const held = await tryLock(file);
    if (held) return held;
    const state = await inspectLock(file);
    const holder = state.state === 'held' ? state.holder : undefined;
    if (Date.now() >= deadline) throw errors.lockTimeout(file, describeHolder(holder), timeout / 1000);
    if (!warned && state.state === 'held') {
      onWait?.(holder);
      warned = true;
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(delay, Math.max(0, deadline - Date.now())));
      signal?.addEventListener('abort', done);
    });
    delay = Math.min(delay * 2, 1000);
  }
}
