// Disk full, for real. Linux's /dev/full fails every write with ENOSPC: a JUnit path, a report or a
// journal that is (a symbolic link to) such a device is a write the kernel refuses, and these cases
// run everywhere (on a private node like /dev/full where the test may make one). Where the test may
// mount a tmpfs (root with CAP_SYS_ADMIN), a whole run also goes on a file system that is genuinely
// full. Either way: DISK_FULL naming the file and the fix (never "this is a bug in qrun"), no
// half-written report, no leaked build folder, and a finished run is never "resumed" by the next one.
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CacheStore } from '../../src/cache/store.ts';
import { END_MARKER, readJournal } from '../../src/engine/journal.ts';
import type { Report } from '../../src/report/build-report.ts';
import { qrun, REPO, startQrun, tempDir } from '../helpers/cli.ts';
import { useTmpfs } from '../helpers/tmpfs.ts';
import { waitFor } from '../helpers/wait-for.ts';

const HOLD = join(REPO, 'tests/fixtures/plugins/hold');

/**
 * A full device to write to: a private node like /dev/full (char 1,7) where this process may make
 * one, so that a writer that wrongly renames over its target (write-file-atomic does, following a
 * link to the device) replaces a file of this test's, not the system's /dev/full; else /dev/full.
 */
function fullDevice(): string {
  const node = join(tempDir('qrun-full-'), 'full');
  try {
    execFileSync('mknod', ['-m', '666', node, 'c', '1', '7'], { stdio: 'ignore' });
    writeFileSync(node, 'x');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOSPC') return node;
  }
  return '/dev/full';
}
const COUNTER = join(REPO, 'tests/fixtures/plugins/counter');

/** first (counter), then second (hold): waits in its step until `go` exists. */
function holdRecipe(dir: string): { file: string; started: string; go: string } {
  const file = join(dir, 'recipe.yaml');
  const started = join(dir, 'second.started');
  const go = join(dir, 'go');
  writeFileSync(
    file,
    `name: full
steps:
  - { id: first, uses: ${COUNTER}, with: { counterFile: ${join(dir, 'n.log')}, value: one } }
  - { id: second, uses: ${HOLD}, with: { started: ${started}, release: ${go} } }
`,
  );
  return { file, started, go };
}

/** The one run folder in a cache (each test makes one run before it looks). */
function onlyRun(cache: string): string {
  const runs = readdirSync(join(cache, 'runs'));
  expect(runs).toHaveLength(1);
  return join(cache, 'runs', runs[0]!);
}

function expectUserError(stderr: string): void {
  expect(stderr).not.toMatch(/internal error|this is a bug in qrun/);
  expect(stderr).toMatch(/hint: free space there \(`df -h .*`.*\), or write elsewhere: --cache DIR \(or QRUN_CACHE\) moves the cache and the run folders, --junit FILE the JUnit XML/);
}

describe('/dev/full: every write refused with ENOSPC', () => {
  it('--junit /dev/full: DISK_FULL naming it, exit 1, the reports still written, the device left a device', async () => {
    const FULL = fullDevice();
    const dir = tempDir();
    const cache = join(dir, 'c');
    const { file, go } = holdRecipe(dir);
    writeFileSync(go, '');
    expect(statSync(FULL).isCharacterDevice()).toBe(true);
    const r = await qrun([file, '--cache', cache, '--junit', FULL]);
    expect(statSync(FULL).isCharacterDevice()).toBe(true);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`error DISK_FULL: cannot write the JUnit XML ${FULL}: no space left on the device (ENOSPC)`);
    expectUserError(r.stderr);
    expect(r.stdout).toMatch(/\n✓ PASSED — 2 steps finished/);
    const run = onlyRun(cache);
    expect((JSON.parse(readFileSync(join(run, 'report.json'), 'utf8')) as Report).run.status).toBe('passed');
    expect(readJournal(join(run, 'journal.jsonl')).at(-1)).toMatchObject({ event: 'end', status: 'passed' });
  });

  it('report.json on a full disk: DISK_FULL naming it, the other reports whole, and the next run does not "resume" this one', async () => {
    const FULL = fullDevice();
    const dir = tempDir();
    const cache = join(dir, 'c');
    const { file, started, go } = holdRecipe(dir);
    const child = startQrun([file, '--cache', cache]);
    await waitFor(() => existsSync(started), 'the second step started', { child: child });
    const run = onlyRun(cache);
    symlinkSync(FULL, join(run, 'report.json'));
    writeFileSync(go, '');
    const r = await child;
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toContain(`error DISK_FULL: cannot write the run report ${join(run, 'report.json')}: no space left on the device (ENOSPC)`);
    expectUserError(String(r.stderr));
    expect(String(r.stdout)).toContain('report: not written in full');
    // Written in place through the link (a device is never renamed over), and nothing left behind.
    expect(readlinkSync(join(run, 'report.json'))).toBe(FULL);
    expect(statSync(FULL).isCharacterDevice()).toBe(true);
    expect(readdirSync(run).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(readFileSync(join(run, 'report.md'), 'utf8')).toMatch(/^# qrun report — full\n\n\*\*✓ PASSED\*\*[\s\S]*## Step metrics[\s\S]*\n$/);
    expect(readFileSync(join(run, 'report.html'), 'utf8')).toMatch(/<\/html>\n$/);
    expect(readJournal(join(run, 'journal.jsonl')).at(-1)).toMatchObject({ event: 'end', status: 'passed' });

    unlinkSync(join(run, 'report.json'));
    const again = await qrun([file, '--cache', cache]);
    expect(again.exitCode).toBe(0);
    expect(again.stderr).not.toContain('resuming');
  });

  it('the journal on a full disk: DISK_FULL naming it; the end is marked without it, so the next run does not "resume" this one', async () => {
    const FULL = fullDevice();
    const dir = tempDir();
    const cache = join(dir, 'c');
    const { file, started, go } = holdRecipe(dir);
    const child = startQrun([file, '--cache', cache]);
    await waitFor(() => existsSync(started), 'the second step started', { child: child });
    const run = onlyRun(cache);
    const journal = join(run, 'journal.jsonl');
    const saved = readFileSync(journal, 'utf8');
    unlinkSync(journal);
    symlinkSync(FULL, journal);
    writeFileSync(go, '');
    const r = await child;
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toContain(`error DISK_FULL: cannot write the run journal ${journal}: no space left on the device (ENOSPC)`);
    expectUserError(String(r.stderr));
    expect(String(r.stdout)).toMatch(/\n✗ FAILED — cannot write the run journal/);
    expect(existsSync(join(run, END_MARKER))).toBe(true);
    expect(readdirSync(join(cache, 'cache', 'tmp'))).toEqual([]);

    // Space again: the journal is back as it was on disk, without its end line.
    unlinkSync(journal);
    writeFileSync(journal, saved);
    expect(readJournal(journal).some((e) => e.event === 'end')).toBe(false);
    const again = await qrun([file, '--cache', cache]);
    expect(again.exitCode).toBe(0);
    expect(again.stderr).not.toContain('resuming');
  });
});

describe('a file system that is really full (tmpfs)', () => {
  const mountTmpfs = useTmpfs();

  /** Writes until the file system refuses: big chunks, then small ones for what is left. */
  function fill(file: string): void {
    for (const size of [65536, 4096, 1]) {
      const chunk = Buffer.alloc(size, 0x78);
      try {
        for (;;) appendFileSync(file, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      }
    }
  }

  it('a run whose disk fills during a step: DISK_FULL, no leaked build folder, no half report, and the next run does not "resume" it', async (ctx) => {
    const mnt = mountTmpfs('4m');
    ctx.skip(mnt === undefined, 'mounting a tmpfs needs root with CAP_SYS_ADMIN; the /dev/full cases above run anyway');
    const dir = tempDir();
    const cache = join(mnt!, 'c');
    const { file, started, go } = holdRecipe(dir);
    const child = startQrun([file, '--cache', cache]);
    await waitFor(() => existsSync(started), 'the second step started', { child: child });
    const run = onlyRun(cache);
    // The journal ends at a page boundary, so its end line needs a page of its own.
    const page = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }));
    const used = statSync(join(run, 'journal.jsonl')).size % page;
    if (used) appendFileSync(join(run, 'journal.jsonl'), ' '.repeat(page - used - 1) + '\n');
    fill(join(mnt!, 'filler'));
    writeFileSync(go, '');
    const r = await child;
    const stderr = String(r.stderr);
    expect(r.exitCode).toBe(1);
    // The step could not write its output. What qrun writes after it gets the few pages that
    // discarding the build folder and releasing locks gave back, or is refused: either way, each
    // file is whole or absent, and each one refused is named.
    expect(stderr).toMatch(/error DISK_FULL: step "second" \(hold\) failed: ENOSPC: no space left on device/);
    expectUserError(stderr);
    expect(String(r.stdout)).toMatch(/\n✗ FAILED — step "second" \(hold\) failed: ENOSPC/);
    const whole: Record<string, (text: string) => boolean> = {
      'report.json': (t) => (JSON.parse(t) as Report).run.status === 'failed',
      'report.md': (t) => t.endsWith('\n') && t.includes('## Step metrics'),
      'report.html': (t) => t.endsWith('</html>\n'),
      'junit.xml': (t) => t.endsWith('</testsuites>\n'),
    };
    const refused = Object.keys(whole).filter((f) => !existsSync(join(run, f)));
    for (const [f, isWhole] of Object.entries(whole)) if (existsSync(join(run, f))) expect(isWhole(readFileSync(join(run, f), 'utf8')), f).toBe(true);
    for (const f of refused) expect(stderr).toContain(`cannot write ${f === 'junit.xml' ? 'the JUnit XML' : 'the run report'} ${join(run, f)}: no space left on the device (ENOSPC)`);
    expect(refused.length).toBeGreaterThan(0);
    expect(readdirSync(run).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const store = new CacheStore(join(cache, 'cache'));
    expect(readdirSync(store.tmpDir)).toEqual([]);
    expect(await store.keys()).toHaveLength(1);
    // The run is marked ended: by its end line, or by the marker when the line did not fit.
    expect(readJournal(join(run, 'journal.jsonl')).some((e) => e.event === 'end') || existsSync(join(run, END_MARKER))).toBe(true);

    rmSync(join(mnt!, 'filler'));
    const again = await qrun([file, '--cache', cache]);
    expect(again.exitCode).toBe(0);
    expect(again.stderr).not.toContain('resuming');
  });
});
