// Evaluation labels through the real CLI on the shipped model: the evaluation set written with class
// indices (as Hugging Face datasets writes a ClassLabel column), or with names and indices mixed,
// scores exactly as the same set written with names; labels the model does not know stop the run
// with the data file, the line and the model's labels — never "label accuracy n/a" or an accuracy
// over part of the set.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { qrun, REPO, tempDir } from '../helpers/cli.ts';
import { latestReport, step } from '../helpers/report.ts';

const MODEL = join(REPO, 'models/bert-langid');
const EVAL = join(REPO, 'data/langid/eval.jsonl');
const LANGID = ['de', 'en', 'es', 'fr', 'it', 'nl', 'pl', 'pt', 'sv'];

const dir = tempDir('qrun-labels-');
const cache = join(dir, 'cache');

/** eval.jsonl with every label rewritten by `label(name, line)`, in a temp folder. */
function evalCopy(name: string, label: (name: string, line: number) => unknown): string {
  const file = join(dir, name);
  const lines = readFileSync(EVAL, 'utf8').split('\n').filter(Boolean);
  writeFileSync(file, lines.map((l, i) => JSON.stringify({ ...JSON.parse(l), label: label(JSON.parse(l).label as string, i + 1) })).join('\n') + '\n');
  return file;
}

/** Weight-only INT8 (no calibration) and a short bench: the accuracy pass is what is under test. */
async function benchOn(evaluation: string) {
  const recipe = join(dir, `${evaluation.split('/').pop()}.yaml`);
  writeFileSync(
    recipe,
    `version: 1
name: labels
model: ${MODEL}
data:
  evaluation: ${evaluation}
steps:
  - { id: load, uses: hf.load }
  - { id: qdq, uses: qdq.insert, with: { mode: weight-only } }
  - { id: bench, uses: bench, with: { shapes: [{ batch: 1, sequence: 16 }], warmup: 0, iterations: 2, blocks: 1, threads: 1 } }
`,
  );
  const r = await qrun([recipe, '--cache', cache]);
  return { ...r, report: latestReport(cache).report };
}

let byName: Record<string, unknown>;

beforeAll(async () => {
  const r = await benchOn(EVAL);
  expect(r.exitCode, r.stderr).toBe(0);
  byName = step(r.report, 'bench').metrics as Record<string, unknown>;
}, 120_000);

describe('evaluation labels (qrun CLI, shipped model, data/langid/eval.jsonl)', () => {
  it('names: label accuracy over all 1008 samples', () => {
    expect(byName.fp32Accuracy).toBeGreaterThan(0.9);
    expect(byName.logitsOutput).toBe('logits');
  });

  it('class indices as JSON numbers give the same FP32 and INT8 accuracy as names (not "n/a")', async () => {
    const r = await benchOn(evalCopy('eval-indices.jsonl', (n) => LANGID.indexOf(n)));
    expect(r.exitCode, r.stderr).toBe(0);
    const m = step(r.report, 'bench').metrics as Record<string, unknown>;
    expect(m.fp32Accuracy).toBe(byName.fp32Accuracy);
    expect(m.int8Accuracy).toBe(byName.int8Accuracy);
  }, 120_000);

  it('names and indices mixed line by line give the same accuracy', async () => {
    const r = await benchOn(evalCopy('eval-mixed.jsonl', (n, line) => (line % 3 === 0 ? LANGID.indexOf(n) : line % 3 === 1 ? n : String(LANGID.indexOf(n)))));
    expect(r.exitCode, r.stderr).toBe(0);
    expect((step(r.report, 'bench').metrics as Record<string, unknown>).fp32Accuracy).toBe(byName.fp32Accuracy);
  }, 120_000);

  it('labels the model does not know stop the run: LABELS_MISMATCH at file:line, with the model’s labels and a hint', async () => {
    // English names for three of the nine languages: one third of the set, accuracy over the rest
    // would have looked plausible.
    const file = evalCopy('eval-english.jsonl', (n) => ({ de: 'German', en: 'English', fr: 'French' })[n] ?? n);
    const firstUnknown = readFileSync(file, 'utf8').split('\n').findIndex((l) => /"label": ?"(German|English|French)"/.test(l)) + 1;
    const r = await benchOn(file);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`${file}:${firstUnknown}:1: error LABELS_MISMATCH`);
    expect(r.stderr).toMatch(/\d+ of 1008 labels in .*eval-english\.jsonl match none of the model's classes/);
    expect(r.stderr).toContain("the model's labels (");
    expect(r.stderr).toContain('0 de, 1 en, 2 es, 3 fr, 4 it, 5 nl, 6 pl, 7 pt, 8 sv');
    expect(r.stderr).toMatch(/hint: labels are class names as in id2label or class indices 0–8/);
    expect(step(r.report, 'bench').status).toBe('failed');
  }, 120_000);
});
