// A run killed with SIGKILL inside a step leaves the cache consistent; the next run says it resumes,
// names the steps that had finished, takes exactly those from the cache and runs the rest. The kill
// lands at a known point: the blocker plugin holds its step until the test releases it, so which
// steps had finished is not left to timing, and real invocations are counted (wireit's
// numInvocations) rather than inferred.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CacheStore } from '../../src/cache/store.ts';
import { qrun, REPO, startQrun, tempDir } from '../helpers/cli.ts';
import { latestReport } from '../helpers/report.ts';
import { readTrace } from '../helpers/trace.ts';
import { waitFor } from '../helpers/wait-for.ts';

const COUNTER = join(REPO, 'tests/fixtures/plugins/counter');
const BLOCKER = join(REPO, 'tests/fixtures/plugins/blocker');

/** Lines "<pid> start" / "<pid> done" the counter plugin wrote. */
const counted = (file: string, what: 'start' | 'done') => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.endsWith(` ${what}`)).length : 0);

describe('resume after a crash', () => {
  it('SIGKILL inside the third step: the journal has no end, the rerun resumes, takes the two finished steps from the cache and runs the rest', async () => {
    const dir = tempDir();
    const cache = join(dir, 'c');
    const trace = join(dir, 'trace.log');
    const release = join(dir, 'release');
    const log = (id: string) => join(dir, `${id}.log`);
    const file = join(dir, 'recipe.yaml');
    writeFileSync(
      file,
      `name: resume
steps:
  - { id: first, uses: ${COUNTER}, with: { counterFile: ${log('first')}, value: one } }
  - { id: second, uses: ${COUNTER}, with: { counterFile: ${log('second')}, value: two } }
  - { id: block, uses: ${BLOCKER}, with: { trace: ${trace}, release: ${release} } }
  - { id: last, uses: ${COUNTER}, with: { counterFile: ${log('last')}, value: four } }
`,
    );

    const child = startQrun([file, '--cache', cache]);
    await waitFor(() => readTrace(trace).some((e) => e.pid === child.pid && e.step === 'block' && e.event === 'start'), 'the run to be inside step "block"', { child });
    child.kill('SIGKILL');
    const killed = await child;
    // It died of our SIGKILL, not of anything of its own before it.
    expect(killed.signal, String(killed.stdout) + String(killed.stderr)).toBe('SIGKILL');

    // What had finished at the kill: first and second ran once each, block had started, last not.
    expect([counted(log('first'), 'done'), counted(log('second'), 'done'), counted(log('last'), 'start')]).toEqual([1, 1, 0]);
    expect(readTrace(trace).map((e) => e.event)).toEqual(['start']);

    // The journal of the killed run records those two steps and no end.
    const runs = readdirSync(join(cache, 'runs'));
    expect(runs).toHaveLength(1);
    const killedRun = runs[0]!;
    const events = readFileSync(join(cache, 'runs', killedRun, 'journal.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { event: string; id?: string; status?: string; pid?: number });
    expect(events.find((e) => e.event === 'start')?.pid).toBe(child.pid);
    expect(events.filter((e) => e.event === 'step').map((e) => [e.id, e.status])).toEqual([
      ['first', 'ran'],
      ['second', 'ran'],
    ]);
    expect(events.filter((e) => e.event === 'end')).toEqual([]);

    // The cache holds the two finished steps, whole; nothing of the half-built one.
    const store = new CacheStore(join(cache, 'cache'));
    const keys = await store.keys();
    expect(keys).toHaveLength(2);
    for (const key of keys) expect((await store.lookup(key)).status).toBe('hit');

    writeFileSync(release, '');
    const r = await qrun([file, '--cache', cache]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    // The rerun names the killed run and exactly the steps that had finished.
    const said = /resuming after interrupted run (\S+) \((\d+) step\(s\) finished and cached: ([^)]*)\)/.exec(r.stderr);
    expect(said?.slice(1), r.stderr).toEqual([killedRun, '2', 'first, second']);
    // Its step lines say cache hit for exactly those two.
    const hitLines = r.stdout.split('\n').filter((l) => /\bcache hit\s*$/.test(l));
    expect(hitLines.map((l) => /(\w+) \(\w+\)/.exec(l)?.[1]), r.stdout).toEqual(['first', 'second']);
    const { report } = latestReport(cache);
    expect(report.run.resumedFrom).toBe(killedRun);
    expect(report.steps.map((s) => [s.id, s.status])).toEqual([
      ['first', 'hit'],
      ['second', 'hit'],
      ['block', 'ran'],
      ['last', 'ran'],
    ]);
    // Counted: the finished steps did not run again; block ran again, to the end; last ran once.
    expect([counted(log('first'), 'start'), counted(log('second'), 'start'), counted(log('last'), 'done')]).toEqual([1, 1, 1]);
    expect(readTrace(trace).map((e) => e.event)).toEqual(['start', 'start', 'done']);
  });
});
