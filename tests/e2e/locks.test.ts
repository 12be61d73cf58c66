// Locks through the real CLI (issue 11, items 6 and 9): a lock whose PID names an unrelated process
// is not waited on, a wait is visible in plain output and bounded, a holder that stops its heartbeat
// is taken over (and told so when it wakes), and a live run of the same recipe is never "resumed".
// The holder is a real qrun run kept inside a step by tests/fixtures/plugins/blocker.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Report } from '../../src/report/build-report.ts';
import { digestPath } from '../../src/util/hash.ts';
import { qrun, REPO, startQrun, tempDir } from '../helpers/cli.ts';
import { latestReport, step } from '../helpers/report.ts';
import { readTrace, traceIndex } from '../helpers/trace.ts';
import { waitFor } from '../helpers/wait-for.ts';

const BLOCKER = join(REPO, 'tests/fixtures/plugins/blocker');
const COUNTER = join(REPO, 'tests/fixtures/plugins/counter');

function blockerRecipe(dir: string) {
  const trace = join(dir, 'trace.log');
  const release = join(dir, 'release');
  const file = join(dir, 'recipe.yaml');
  writeFileSync(
    file,
    `name: locks
steps:
  - { id: first, uses: ${COUNTER}, with: { counterFile: ${join(dir, 'n.log')}, value: one } }
  - { id: hold, uses: ${BLOCKER}, with: { trace: ${trace}, release: ${release}, value: held } }
`,
  );
  return { file, trace, release, cache: join(dir, 'c') };
}

type Started = ReturnType<typeof startQrun>;

const started = (trace: string, pid: number | undefined) => () => traceIndex(readTrace(trace), { pid, step: 'hold', event: 'start' }) >= 0;

const sleepers: ChildProcess[] = [];
afterAll(() => sleepers.forEach((c) => c.kill('SIGKILL')));

/** Every artifact of the run of process `pid` (default: the newest run) has, on disk, the sha256 its report states. */
async function artifactsMatchReport(cache: string, pid?: number): Promise<void> {
  const id = pid === undefined ? latestReport(cache).report.run.id : readdirSync(join(cache, 'runs')).find((r) => r.endsWith(`-${pid}`))!;
  const report = JSON.parse(readFileSync(join(cache, 'runs', id, 'report.json'), 'utf8')) as Report;
  expect(report.steps.some((s) => Object.keys(s.outputs).length > 0)).toBe(true);
  for (const s of report.steps) {
    for (const [name, out] of Object.entries(s.outputs)) {
      expect((await digestPath(join(cache, 'cache', out.path))).sha256, `${s.id}.${name}`).toBe(out.sha256);
    }
  }
}

describe('locks that expire', () => {
  it('a lock left with the PID of a live unrelated process (old-style lock file) is not waited on forever', async () => {
    const dir = tempDir();
    const { file, release, cache } = blockerRecipe(dir);
    writeFileSync(release, '');
    expect((await qrun([file, '--cache', cache])).exitCode).toBe(0);
    const key = step(latestReport(cache).report, 'hold').key!;
    // A run killed long ago left its lock; its PID now belongs to a process that is not qrun.
    const sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
    sleepers.push(sleeper);
    writeFileSync(join(cache, 'cache', 'locks', `${key}.lock`), String(sleeper.pid));
    const r = await qrun([file, '--cache', cache, '--force', 'hold']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/waiting for/);
    await artifactsMatchReport(cache);
  }, 60_000);

  it('a run that finds the step locked by a live run says so in plain output, and gives up after QRUN_LOCK_TIMEOUT with LOCK_TIMEOUT', async () => {
    const dir = tempDir();
    const { file, trace, release, cache } = blockerRecipe(dir);
    // A short stale period (A's heartbeat runs every second): B, which waits longer than that,
    // would take the lock over if A's heartbeats did not keep it fresh.
    const env = { QRUN_LOCK_STALE: '5' };
    const a = startQrun([file, '--cache', cache], { env });
    await waitFor(started(trace, a.pid), 'A to be inside its step', { child: a });
    const b = await qrun([file, '--cache', cache, '--plain'], { env: { ...env, QRUN_LOCK_TIMEOUT: '9' } });
    expect(b.exitCode).toBe(1);
    expect(b.stdout).toMatch(new RegExp(`waiting for \\S+/cache/locks/[0-9a-f]+\\.lock held by pid ${a.pid} on host \\S+ since \\d{4}-`));
    expect(b.stderr).toMatch(new RegExp(`error LOCK_TIMEOUT: .*gave up after 9 s waiting for the lock \\S+\\.lock, held by pid ${a.pid} on host`));
    expect(b.stderr).toMatch(/hint: .*QRUN_LOCK_TIMEOUT.*rm -r '\S+\.lock'/);
    expect(readTrace(trace).filter((e) => e.event === 'start').map((e) => e.pid)).toEqual([a.pid]);
    writeFileSync(release, '');
    expect((await a).exitCode).toBe(0);
    await artifactsMatchReport(cache, a.pid);
  }, 60_000);

  it('a holder that stops its heartbeat (SIGSTOP) is taken over after QRUN_LOCK_STALE; woken, it fails with LOCK_LOST and the entry is the new holder\'s', async () => {
    const dir = tempDir();
    const { file, trace, release, cache } = blockerRecipe(dir);
    const env = { QRUN_LOCK_STALE: '3' };
    const a = startQrun([file, '--cache', cache], { env });
    await waitFor(started(trace, a.pid), 'A to be inside its step', { child: a });
    // B waits on the live holder first, then A stops: stopped before B looked, a loaded machine (B's
    // start taking longer than the stale period) has B find the lock already stale and take it over
    // without waiting, and the wait line this test checks is never printed.
    const b: Started = startQrun([file, '--cache', cache, '--plain'], { env });
    let out = '';
    b.stdout?.on('data', (d: Buffer) => (out += String(d)));
    await waitFor(() => /waiting for \S+\.lock held by pid/.test(out), 'B to wait for the lock', { child: b });
    process.kill(a.pid!, 'SIGSTOP');
    try {
      await waitFor(started(trace, b.pid), 'B to take the lock over and start the step', { child: b });
    } finally {
      process.kill(a.pid!, 'SIGCONT');
    }
    const ra = await a;
    expect(ra.exitCode).toBe(1);
    expect(String(ra.stderr)).toMatch(/error LOCK_LOST: .*lost the lock \S+\.lock/);
    writeFileSync(release, '');
    const rb = await b;
    expect(rb.exitCode, String(rb.stderr)).toBe(0);
    expect(String(rb.stdout)).toMatch(new RegExp(`waiting for \\S+\\.lock held by pid ${a.pid} on host`));
    const { report } = latestReport(cache);
    expect(report.run.id).toContain(String(b.pid));
    expect(step(report, 'hold').metrics.pid).toBe(b.pid);
    await artifactsMatchReport(cache);
  }, 60_000);
});

describe('waits end', () => {
  it('Ctrl-C during a wait for a lock ends it at once: exit 130, and the holder goes on', async () => {
    const dir = tempDir();
    const { file, trace, release, cache } = blockerRecipe(dir);
    const a = startQrun([file, '--cache', cache]);
    await waitFor(started(trace, a.pid), 'A to be inside its step', { child: a });
    const b = startQrun([file, '--cache', cache, '--plain']);
    let out = '';
    b.stdout?.on('data', (d: Buffer) => (out += String(d)));
    await waitFor(() => /waiting for \S+\.lock held by pid/.test(out), 'B to wait for the lock', { child: b });
    b.kill('SIGINT');
    const rb = await b;
    expect(rb.exitCode).toBe(130);
    expect(String(rb.stderr)).toMatch(/error INTERRUPTED/);
    writeFileSync(release, '');
    expect((await a).exitCode).toBe(0);
    await artifactsMatchReport(cache, a.pid);
  }, 60_000);
});

describe('resume', () => {
  it('a second run while the first is live inside a step does not say it resumes an interrupted run', async () => {
    const dir = tempDir();
    const { file, trace, release, cache } = blockerRecipe(dir);
    const a = startQrun([file, '--cache', cache]);
    await waitFor(started(trace, a.pid), 'A to be inside its step', { child: a });
    // B runs only the first step, a cache hit, so it never needs the lock A holds.
    const b = await qrun([file, '--cache', cache, '--until', 'first']);
    expect(b.exitCode, b.stderr).toBe(0);
    expect(b.stderr).not.toMatch(/resuming/);
    writeFileSync(release, '');
    expect((await a).exitCode).toBe(0);
  }, 60_000);

  it('a run killed with SIGKILL inside a step is resumed by the next run at once: its locks name a process that has exited', async () => {
    const dir = tempDir();
    const { file, trace, release, cache } = blockerRecipe(dir);
    const a = startQrun([file, '--cache', cache]);
    await waitFor(started(trace, a.pid), 'A to be inside its step', { child: a });
    a.kill('SIGKILL');
    await a;
    writeFileSync(release, '');
    // No wait for the killed run's heartbeat to go stale (60 s by default): on this host its PID is
    // conclusive, and the lock is taken over at once.
    const c = await qrun([file, '--cache', cache]);
    expect(c.exitCode, c.stderr).toBe(0);
    expect(c.stderr).toMatch(new RegExp(`resuming after interrupted run \\S+-${a.pid} \\(1 step\\(s\\) finished and cached: first\\)`));
    expect(c.stdout).not.toMatch(/waiting for/);
    await artifactsMatchReport(cache);
  }, 60_000);
});
