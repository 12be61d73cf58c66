// `qrun cache gc` through the real CLI (issue 11, item 7): it leaves a live run's build and entries
// alone, counts what it really removed, counts a matrix as one invocation, respects a held lock,
// and deletes nothing in a folder that is not a qrun cache.
import { existsSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CacheStore } from '../../src/cache/store.ts';
import { digestPath } from '../../src/util/hash.ts';
import { qrun, REPO, startQrun, tempDir } from '../helpers/cli.ts';
import { latestReport, step } from '../helpers/report.ts';
import { readTrace, traceIndex } from '../helpers/trace.ts';
import { waitFor } from '../helpers/wait-for.ts';

const COUNTER = join(REPO, 'tests/fixtures/plugins/counter');
const BLOCKER = join(REPO, 'tests/fixtures/plugins/blocker');

function counterRecipe(dir: string, value = 'two') {
  const file = join(dir, `counter-${value}.yaml`);
  writeFileSync(
    file,
    `name: counter
steps:
  - { id: first, uses: ${COUNTER}, with: { counterFile: ${join(dir, 'n.log')}, value: one } }
  - { id: second, uses: ${COUNTER}, with: { counterFile: ${join(dir, 'n.log')}, value: ${value} } }
`,
  );
  return file;
}

const runIds = (cache: string) => readdirSync(join(cache, 'runs')).sort();

/** "first" (counter) then "hold", which stays inside its step until `release` exists. */
function liveRecipe(dir: string) {
  const trace = join(dir, 'trace.log');
  const release = join(dir, 'release');
  const file = join(dir, 'recipe.yaml');
  writeFileSync(
    file,
    `name: live
steps:
  - { id: first, uses: ${COUNTER}, with: { counterFile: ${join(dir, 'n.log')}, value: one } }
  - { id: hold, uses: ${BLOCKER}, with: { trace: ${trace}, release: ${release} } }
`,
  );
  return { file, trace, release };
}

/**
 * Marks entries as last used an hour ago: gc keeps whatever was used shortly before a live run
 * started (the clocks of hosts sharing a cache may disagree), and these tests need entries that
 * only the rule under test protects.
 */
function lastUsedAnHourAgo(store: CacheStore, keys: string[]): void {
  const hourAgo = new Date(Date.now() - 3600_000);
  for (const key of keys) utimesSync(join(store.entryDir(key), 'manifest.json'), hourAgo, hourAgo);
}

describe('qrun cache gc', () => {
  it('during a run it removes neither the run\'s build folder nor the entries it used, and the run finishes', async () => {
    const dir = tempDir();
    const cache = join(dir, 'c');
    const { file, trace, release } = liveRecipe(dir);
    // An earlier run leaves something gc may remove: its entry for another value of "first".
    const old = counterRecipe(dir, 'old');
    expect((await qrun([old, '--cache', cache])).exitCode).toBe(0);
    const store = new CacheStore(join(cache, 'cache'));
    const before = await store.keys();
    lastUsedAnHourAgo(store, before);

    const run = startQrun([file, '--cache', cache]);
    await waitFor(() => traceIndex(readTrace(trace), { pid: run.pid, step: 'hold', event: 'start' }) >= 0, 'the run to be inside "hold"', { child: run });
    const builds = readdirSync(store.tmpDir);
    expect(builds).toHaveLength(1);
    const gc = await qrun(['cache', 'gc', '--cache', cache, '--keep-last', '0']);
    expect(gc.exitCode, gc.stderr).toBe(0);
    expect(existsSync(join(store.tmpDir, builds[0]!))).toBe(true);
    // The live run's "first" is a hit on the earlier run's "first" (same key): kept; "second" is not.
    expect(await store.keys()).toHaveLength(before.length - 1);

    writeFileSync(release, '');
    const r = await run;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(gc.stdout).toMatch(/^removed 1 entry \(\d+(\.\d+)? [kM]?B\) and 1 old run; kept .*1 entry used by 1 live run/m);
    const { report } = latestReport(cache);
    for (const s of report.steps) {
      for (const out of Object.values(s.outputs)) expect((await digestPath(join(cache, 'cache', out.path))).sha256).toBe(out.sha256);
    }
  }, 60_000);

  it('reports only what it removed: a second gc removes nothing and says so', async () => {
    const dir = tempDir();
    const cache = join(dir, 'c');
    expect((await qrun([counterRecipe(dir), '--cache', cache])).exitCode).toBe(0);
    const store = new CacheStore(join(cache, 'cache'));
    const keepAll = await qrun(['cache', 'gc', '--cache', cache]);
    const removeAll = await qrun(['cache', 'gc', '--cache', cache, '--keep-last', '0']);
    expect(await store.keys()).toEqual([]);
    expect(runIds(cache)).toEqual([]);
    const again = await qrun(['cache', 'gc', '--cache', cache, '--keep-last', '0']);
    expect(keepAll.stdout).toMatch(/^removed 0 entries \(0 B\) and 0 old runs; kept 2 entries used by the last 1 invocation$/m);
    expect(removeAll.stdout).toMatch(/^removed 2 entries \(\d+(\.\d+)? kB\) and 1 old run; kept 0 entries/m);
    expect(again.stdout).toMatch(/^removed 0 entries \(0 B\) and 0 old runs;/m);
  }, 60_000);

  it('counts a matrix invocation as one run for --keep-last', async () => {
    const dir = tempDir();
    const cache = join(dir, 'c');
    const file = join(dir, 'matrix.yaml');
    writeFileSync(
      file,
      `name: m
matrix:
  value: [a, b, c]
steps:
  - id: only
    uses: ${COUNTER}
    with:
      counterFile: ${join(dir, 'n.log')}
      value: \${{ matrix.value }}
`,
    );
    expect((await qrun([file, '--cache', cache])).exitCode).toBe(0);
    const store = new CacheStore(join(cache, 'cache'));
    expect(await store.keys()).toHaveLength(3);
    const gc = await qrun(['cache', 'gc', '--cache', cache, '--keep-last', '1']);
    expect(await store.keys()).toHaveLength(3);
    expect(gc.stdout).toMatch(/^removed 0 entries \(0 B\) and 0 old runs; kept 3 entries used by the last 1 invocation$/m);

    // A later invocation of another recipe: now the matrix is the older one, and goes whole.
    expect((await qrun([counterRecipe(dir), '--cache', cache])).exitCode).toBe(0);
    const again = await qrun(['cache', 'gc', '--cache', cache, '--keep-last', '1']);
    expect(again.stdout).toMatch(/^removed 3 entries \(.*\) and 3 old runs; kept 2 entries used by the last 1 invocation$/m);
    expect(runIds(cache)).toEqual([latestReport(cache).report.run.id]);
  }, 60_000);

  it('leaves an entry alone while its key lock is held (a forced rebuild of it is under way)', async () => {
    const dir = tempDir();
    const cache = join(dir, 'c');
    const { file, trace, release } = liveRecipe(dir);
    writeFileSync(release, '');
    expect((await qrun([file, '--cache', cache])).exitCode).toBe(0);
    const store = new CacheStore(join(cache, 'cache'));
    const key = step(latestReport(cache).report, 'hold').key!;
    lastUsedAnHourAgo(store, await store.keys());
    rmSync(release);

    const run = startQrun([file, '--cache', cache, '--force', 'hold']);
    await waitFor(() => traceIndex(readTrace(trace), { pid: run.pid, step: 'hold', event: 'start' }) >= 0, 'the run to be inside "hold"', { child: run });
    const gc = await qrun(['cache', 'gc', '--cache', cache, '--keep-last', '0']);
    // Not in the live run's journal yet, last used an hour ago: only its lock says it is in use.
    expect(await store.keys()).toContain(key);
    writeFileSync(release, '');
    expect((await run).exitCode).toBe(0);
    expect(gc.stdout).toMatch(/^removed 0 entries \(0 B\) and 1 old run; kept 0 entries used by the last 0 invocations, 1 entry used by 1 live run, 1 entry in use \(locked\)$/m);
  }, 60_000);

  it('removes the build folder a killed run left in tmp (its key lock is free now), and says so', async () => {
    const dir = tempDir();
    const cache = join(dir, 'c');
    const { file, trace } = liveRecipe(dir);
    const run = startQrun([file, '--cache', cache]);
    await waitFor(() => traceIndex(readTrace(trace), { pid: run.pid, step: 'hold', event: 'start' }) >= 0, 'the run to be inside "hold"', { child: run });
    run.kill('SIGKILL');
    await run;
    const store = new CacheStore(join(cache, 'cache'));
    expect(readdirSync(store.tmpDir)).toHaveLength(1);
    const gc = await qrun(['cache', 'gc', '--cache', cache]);
    expect(readdirSync(store.tmpDir)).toEqual([]);
    expect(gc.stdout).toMatch(/^removed 0 entries \(0 B\) and 0 old runs and 1 abandoned build; kept 1 entry used by the last 1 invocation$/m);
  }, 60_000);

  it('deletes nothing in a folder that is not a qrun cache (--cache DIR that qrun did not make)', async () => {
    const dir = tempDir();
    const precious = join(dir, 'cache', 'tmp', 'precious.txt');
    mkdirSync(join(dir, 'cache', 'tmp'), { recursive: true });
    writeFileSync(precious, 'not qrun’s');
    writeFileSync(join(dir, 'notes.md'), '');
    const gc = await qrun(['cache', 'gc', '--cache', dir]);
    expect(existsSync(precious)).toBe(true);
    expect(gc.exitCode).toBe(2);
    expect(gc.stderr).toContain(`error NOT_A_QRUN_CACHE: ${dir} is not a qrun cache (it holds cache, notes.md and no cache/CACHEDIR.TAG)`);
  });

  it('accepts a cache an earlier qrun made (its exact layout, no marker) and marks it', async () => {
    const dir = tempDir();
    const cache = join(dir, 'c');
    expect((await qrun([counterRecipe(dir), '--cache', cache])).exitCode).toBe(0);
    rmSync(join(cache, 'cache', 'CACHEDIR.TAG'), { force: true });
    const gc = await qrun(['cache', 'gc', '--cache', cache]);
    expect(gc.exitCode, gc.stderr).toBe(0);
    expect(gc.stdout).toContain('a cache of an earlier qrun version; marked as a qrun cache');
    expect(await new CacheStore(join(cache, 'cache')).hasMarker()).toBe(true);
  });
});
