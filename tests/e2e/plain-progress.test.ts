// Plain and CI logs (no terminal: CI=true, --plain, a pipe) print each step's title once, with how
// it ended, and a long step's phases one line each — not listr2's simple renderer, which printed a
// title when a step started and again when it ended, and one line per calibration batch is noise.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { qrun, REPO, tempDir, type QrunResult } from '../helpers/cli.ts';

const COUNTER = join(REPO, 'tests/fixtures/plugins/counter');
const STEPS = ['load (hf.load)', 'qdq (qdq.insert)', 'calibrate (calibrate)', 'engine (trtexec)', 'bench (bench)'];

/** Lines of the steps' progress: everything before the verdict's blank line. */
const progressLines = (stdout: string) => stdout.slice(0, stdout.indexOf('\n\n')).split('\n');
const count = (lines: string[], text: string) => lines.filter((l) => l.includes(text)).length;

describe('plain progress (CI=true)', () => {
  const dir = tempDir();
  let run: QrunResult;

  beforeAll(async () => {
    const recipe = join(dir, 'recipe.yaml');
    writeFileSync(
      recipe,
      `version: 1
name: plain-log
model: ${join(REPO, 'models/bert-langid')}
data:
  calibration: ${join(REPO, 'data/langid/calib.jsonl')}
  evaluation: ${join(REPO, 'data/langid/eval.jsonl')}
steps:
  - { id: load, uses: hf.load }
  - { id: qdq, uses: qdq.insert, with: { ops: [MatMul, Gemm] } }
  - { id: calibrate, uses: calibrate, with: { method: minmax, samples: 64, batchSize: 8 } }
  - { id: engine, uses: trtexec, optional: true }
  - { id: bench, uses: bench, with: { samples: 64, shapes: [{ batch: 1, sequence: 16 }, { batch: 2, sequence: 32 }], warmup: 1, iterations: 6 } }
`,
    );
    run = await qrun([recipe, '--cache', join(dir, 'cache')], { env: { QRUN_TRTEXEC: join(dir, 'no-trtexec') } });
  }, 180_000);

  it("prints each step's title exactly once, marked with how it ended", () => {
    expect(run.exitCode).toBe(0);
    const lines = progressLines(run.stdout);
    for (const title of STEPS) expect(count(lines, title), title).toBe(1);
    expect(lines.filter((l) => /^[✔↓✖❯]/.test(l))).toEqual([
      expect.stringMatching(/^✔ load \(hf\.load\) — \d+\.\ds$/),
      expect.stringMatching(/^✔ qdq \(qdq\.insert\) — \d+\.\ds$/),
      expect.stringMatching(/^✔ calibrate \(calibrate\) — \d+\.\ds$/),
      expect.stringMatching(/^↓ engine \(trtexec\) — skipped: /),
      expect.stringMatching(/^✔ bench \(bench\) — \d+\.\ds$/),
    ]);
  });

  it('prints a long step’s phases one line each, before its title: the calibration pass once (not 24 batches), each bench shape once', () => {
    const lines = progressLines(run.stdout);
    expect(lines.filter((l) => l.startsWith('  calibrate › '))).toEqual(['  calibrate › min/max, 64 samples in 24 batches']);
    expect(count(lines, 'batch 2/')).toBe(0);
    expect(lines.filter((l) => l.startsWith('  bench › '))).toEqual(['  bench › accuracy, 64 samples in 29 batches', '  bench › latency 1×16 (shape 1/2)', '  bench › latency 2×32 (shape 2/2)']);
    expect(lines.indexOf('  bench › latency 2×32 (shape 2/2)')).toBeLessThan(lines.findIndex((l) => l.startsWith('✔ bench')));
  });

  it('a failing step: its title once, with ✖', async () => {
    const recipe = join(dir, 'fails.yaml');
    writeFileSync(recipe, `name: fails\nsteps:\n  - { id: first, uses: ${COUNTER}, with: { counterFile: ${join(dir, 'n.log')} } }\n  - { id: second, uses: ${COUNTER}, with: { counterFile: ${join(dir, 'n.log')}, behaviour: throw } }\n`);
    const r = await qrun([recipe, '--cache', join(dir, 'cache2')]);
    expect(r.exitCode).toBe(1);
    const lines = progressLines(r.stdout);
    expect(count(lines, 'first (counter)')).toBe(1);
    expect(lines.filter((l) => l.includes('second (counter)'))).toEqual([expect.stringMatching(/^✖ second \(counter\) — failed after \d+\.\ds$/)]);
  }, 60_000);
});
