// A run killed with SIGKILL mid-step leaves the cache consistent; the next run says it resumes,
// takes every finished step from the cache and runs the rest.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CacheStore } from '../../src/cache/store.ts';
import { qrun, REPO, startQrun, tempDir } from '../helpers/cli.ts';
import { latestReport } from '../helpers/report.ts';

describe('resume after a crash', () => {
  it('SIGKILL during a step, then a rerun resumes at the first unfinished step', async () => {
    const dir = tempDir();
    const cache = join(dir, 'c');
    const file = join(dir, 'recipe.yaml');
    writeFileSync(
      file,
      `name: resume
model: ${join(REPO, 'models/bert-langid')}
data:
  calibration: ${join(REPO, 'data/langid/calib.jsonl')}
  evaluation: ${join(REPO, 'data/langid/eval.jsonl')}
steps:
  - { id: load, uses: hf.load }
  - { id: patch, uses: patch }
  - { id: qdq, uses: qdq.insert }
  - { id: calibrate, uses: calibrate, with: { method: percentile, bins: 65536 } }
  - { id: bench, uses: bench, with: { iterations: 40, shapes: [{ batch: 8, sequence: 128 }] } }
`,
    );
    const child = startQrun([file, '--cache', cache]);
    // Kill as soon as the journal shows qdq finished: calibrate or bench is then under way.
    const runsDir = join(cache, 'runs');
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        try {
          if (!existsSync(runsDir)) return;
          const runs = readdirSync(runsDir);
          const journal = runs.length ? join(runsDir, runs[0]!, 'journal.jsonl') : '';
          if (journal && existsSync(journal) && readFileSync(journal, 'utf8').includes('"id":"qdq"')) {
            clearInterval(timer);
            child.kill('SIGKILL');
            resolve();
          }
        } catch (e) {
          clearInterval(timer);
          reject(e);
        }
      }, 20);
    });
    await child;
    expect(child.killed || child.exitCode !== 0).toBe(true);

    const store = new CacheStore(join(cache, 'cache'));
    for (const key of await store.keys()) expect((await store.lookup(key)).status).toBe('hit');

    const r = await qrun([file, '--cache', cache]);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/resuming after interrupted run \S+ \(3 step\(s\) finished and cached: load, patch, qdq\)/);
    const { report } = latestReport(cache);
    expect(report.run.resumedFrom).toBeDefined();
    expect(report.steps.map((s) => s.status)).toEqual(['hit', 'hit', 'hit', expect.stringMatching(/hit|ran/), 'ran']);
  });
});
