// Locks on a real folder with real processes: a PID frees a lock only when it is conclusive, a lock
// whose heartbeat stopped is taken over, a live holder is waited for only so long, and a holder
// whose lock was taken over is told so instead of crashing.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { acquireLock, inspectLock, processIdentity, tryLock, type LockHolder } from './lock.ts';

const dir = useTempDir();
let n = 0;
const lockPath = () => join(dir, `k${n++}.lock`);

const children: ChildProcess[] = [];
afterAll(() => children.forEach((c) => c.kill('SIGKILL')));

/** A live process that has nothing to do with qrun. */
function unrelatedProcess(): number {
  const c = spawn('sleep', ['600'], { stdio: 'ignore' });
  children.push(c);
  return c.pid!;
}

function procStartTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

/** A lock folder as another qrun process leaves it: holder.json inside, mtime = its last heartbeat. */
function writeLock(file: string, holder: Partial<LockHolder>, heartbeatAgoMs = 0): void {
  const me = processIdentity();
  mkdirSync(file);
  writeFileSync(join(file, 'holder.json'), JSON.stringify({ ...me, since: new Date().toISOString(), token: `t${n}`, ...holder }));
  const t = new Date(Date.now() - heartbeatAgoMs);
  utimesSync(file, t, t);
}

const env = { ...process.env };
afterEach(() => {
  process.env = { ...env };
});

describe('a PID frees a lock only where it is conclusive', () => {
  // skip-reason: process start times are read from /proc, which only Linux has
  it.skipIf(process.platform !== 'linux')('a fresh lock whose PID now names an unrelated live process (PID reused) is taken over at once', async () => {
    const pid = unrelatedProcess();
    const file = lockPath();
    writeLock(file, { pid, startTicks: procStartTicks(pid) - 1 });
    expect(await inspectLock(file)).toMatchObject({ state: 'abandoned', why: `process ${pid} has exited (the id now names another process)` });
    const held = await tryLock(file);
    expect(held).toBeDefined();
    expect(JSON.parse(readFileSync(join(file, 'holder.json'), 'utf8')).pid).toBe(process.pid);
    await held!.release();
  });

  it('a fresh lock of a live process on another host is held: its PID means nothing here', async () => {
    const file = lockPath();
    writeLock(file, { pid: 999_999, host: `not-${hostname()}` });
    expect(await inspectLock(file)).toMatchObject({ state: 'held' });
    expect(await tryLock(file)).toBeUndefined();
  });

  it('an old-style lock file (a PID, never refreshed) written by an earlier qrun is not waited for', async () => {
    const file = lockPath();
    writeFileSync(file, String(unrelatedProcess()));
    const held = await tryLock(file);
    expect(held).toBeDefined();
    await held!.release();
  });
});

describe('heartbeats', () => {
  it('a lock whose heartbeat stopped QRUN_LOCK_STALE seconds ago is taken over, although its holder is alive', async () => {
    process.env.QRUN_LOCK_STALE = '5';
    const pid = unrelatedProcess();
    const file = lockPath();
    writeLock(file, { pid, startTicks: procStartTicks(pid) }, 6000);
    expect(await inspectLock(file)).toMatchObject({ state: 'abandoned', why: expect.stringMatching(/^no heartbeat for [67] s \(stale after 5 s\)$/) });
    const held = await tryLock(file);
    expect(held).toBeDefined();
    await held!.release();
  });

  it('waiting for a live holder ends after QRUN_LOCK_TIMEOUT with LOCK_TIMEOUT naming the lock, its holder and how to clear it', async () => {
    process.env.QRUN_LOCK_TIMEOUT = '1';
    const pid = unrelatedProcess();
    const file = lockPath();
    writeLock(file, { pid, startTicks: procStartTicks(pid), since: '2024-01-02T03:04:05.000Z', command: 'qrun recipes/x.yaml' });
    const waits: (LockHolder | undefined)[] = [];
    const err = await acquireLock(file, (h) => waits.push(h)).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'LOCK_TIMEOUT',
      message: `gave up after 1 s waiting for the lock ${file}, held by pid ${pid} on host ${hostname()} since 2024-01-02T03:04:05.000Z (qrun recipes/x.yaml)`,
    });
    expect((err as { diagnostics: { hint: string }[] }).diagnostics[0]!.hint).toContain(`rm -r '${file}'`);
    expect(waits.map((h) => h?.pid)).toEqual([pid]);
  });

  it('a holder whose lock another process took over is told (LOCK_LOST on its signal) instead of crashing', async () => {
    process.env.QRUN_LOCK_STALE = '2'; // a heartbeat every second
    const file = lockPath();
    const held = (await tryLock(file))!;
    // What a process that judged us stale does: our folder goes, its own takes the name.
    renameSync(file, `${file}.gone`);
    writeLock(file, { pid: 999_999, host: `not-${hostname()}` });
    await new Promise<void>((resolve) => held.lost.addEventListener('abort', () => resolve()));
    expect(held.lost.reason).toMatchObject({ code: 'LOCK_LOST', message: expect.stringContaining(`lost the lock ${file}`) });
    await held.release(); // leaves the other process's lock alone
    expect(JSON.parse(readFileSync(join(file, 'holder.json'), 'utf8')).pid).toBe(999_999);
  });
});
