// Issue 17 item 2 on every trained model the project keeps: with qrun's default placement and
// nothing left in float, each calibration method (minmax, percentile, entropy, mse, auto) agrees
// with FP32 on ≥ 99.0% of the evaluation samples, and the best one on ≥ 99.5%. One test per model,
// all methods in one process through the real plugins (hf.load → [onnx.export] → patch → qdq.insert
// → calibrate), the same code as `npm run bench:calibrators`, which prints docs/quantization.md's
// table. A deliberately broken calibrator (every activation scale 16× too small) must miss the
// thresholds, so a test that passes here says the methods are good, not that the check is blind.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectedFlips, markdownTable, METHODS, prepareModel, REPO, runMethod, shortfalls, trainedModels, withExtendedEvaluation, type MethodResult, type PreparedModel } from '../../bench/calibrator-table.ts';
import { loadTokenizer } from '../../src/data/tokenizer.ts';
import { qrun, tempDir } from '../helpers/cli.ts';
import { latestReport, step } from '../helpers/report.ts';

const work = mkdtempSync(join(tmpdir(), 'qrun-calibrators-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * Sample counts that keep this file short on 2 cores: calibration on 64 samples (calibrate's
 * `samples`), evaluation on the first N. The zoo's sets are that small already (64/128 text, 8/20
 * images). 300 evaluation texts: 99.0% allows 3 flipped predictions, 99.5% one.
 */
const SAMPLES: Record<string, { calibration: number; evaluation: number }> = {
  'bert-langid': { calibration: 64, evaluation: 300 },
  'bert6-hard': { calibration: 64, evaluation: 300 },
};

/**
 * Model/method pairs that miss the thresholds on the code as it is, with the agreement measured
 * (on the samples above) and why. They are asserted at that value, and the gap is printed, so a
 * regression or an improvement shows; every pair not listed must meet the thresholds.
 * `<model>/best` stands for the best-method threshold.
 */
// Measured on calibrate 1.4 (the activation shift, src/quant/shift.ts); the targets stand,
// these say by how much each misses (docs/quantization.md has the full table). With calibrate 1.3
// bert6-hard's minmax and percentile missed here (98.67%, 4 of 300 flipped).
const KNOWN_SHORTFALLS: Record<string, { agreement: number; why: string }> = {
  // The zoo's own 128 texts (asserted on the first 128 of the extended set below): one text is 0.78%,
  // so 99.5% there means no flip at all. On 1130 held-out texts the target is met (asserted).
  'zoo/distilbert@128/best': {
    agreement: 0.9922,
    why: "1 of 128 flipped by every method (and by the dynamic form with the 128 batched alone): evaluation text 101's FP32 top-1 margin is 0.005, a tie at INT8's noise level; 128 texts cannot show 99.5% short of zero flips",
  },
};

/**
 * Zoo text models scored on the extended evaluation set (their 128 texts + data/langid/eval.jsonl's
 * held-out texts, 1130 in all; bench/calibrator-table.ts ZOO_HELD_OUT), the first 128 apart too. Only
 * the one whose 128 texts cannot measure the target, to keep this file short; the bench runs all.
 */
const EXTENDED = new Set(['zoo/distilbert']);

const models = trainedModels(work).map((m) => (EXTENDED.has(m.name) ? withExtendedEvaluation(m) : m));

/** Each model prepared once (export, placement, FP32 logits), shared by the tests that use it. */
const prepared = new Map<string, Promise<PreparedModel>>();
function preparedModel(name: string): Promise<PreparedModel> {
  if (!prepared.has(name)) prepared.set(name, prepareModel(models.find((m) => m.name === name)!, work, SAMPLES[name]?.evaluation ?? 0));
  return prepared.get(name)!;
}

describe('every calibration method on every trained model, nothing in float (issue 17 item 2)', () => {
  it('the trained models are all here: bert-langid, bert6-hard and the ten zoo models', () => {
    expect(existsSync(join(REPO, 'models/bert6-hard/model.safetensors.index.json')), 'models/bert6-hard is missing (scripts/make-hard-bert/README.md)').toBe(true);
    expect(models.map((m) => m.name)).toHaveLength(12);
  });

  it.each(models.map((m) => m.name))('%s: each method ≥ 99.0% agreement with FP32, the best ≥ 99.5%', async (name) => {
    const n = SAMPLES[name];
    const p = await preparedModel(name);
    const rows: MethodResult[] = [];
    for (const method of METHODS) rows.push(await runMethod(p, method, n ? { samples: n.calibration } : {}));
    console.log(`\n${markdownTable(rows)}`);

    expect(rows.map((r) => [r.method, r.skipped ?? 'ran'])).toEqual(METHODS.map((m) => [m, 'ran']));
    if (EXTENDED.has(name)) expect(rows.map((r) => [r.samples, r.prefix?.samples])).toEqual(METHODS.map(() => [1130, 128]));
    // The whole evaluation set, and (extended sets) its first texts, each against the known shortfalls.
    const sets: [string, MethodResult[]][] = [[name, rows], ...(rows[0]?.prefix ? [[`${name}@${rows[0].prefix.samples}`, rows.map((r) => r.prefix!)] as [string, MethodResult[]]] : [])];
    for (const [set, rs] of sets) {
      const missing = shortfalls(rs);
      const known = Object.entries(KNOWN_SHORTFALLS).filter(([k]) => k.startsWith(`${set}/`));
      for (const [key, k] of known) {
        const method = key.split('/').pop()!;
        const r = method === 'best' ? rs.reduce((b, x) => (x.agreement > b.agreement ? x : b)) : rs.find((x) => x.method === method)!;
        console.log(`known shortfall ${key}: agreement ${r.agreement.toFixed(4)} (gap to the target: ${((method === 'best' ? 0.995 : 0.99) - r.agreement).toFixed(4)}; ${k.why})`);
        expect(r.agreement, `${key}: known shortfall, measured ${k.agreement} (${k.why}); update KNOWN_SHORTFALLS and docs/quantization.md when it changes`).toBeCloseTo(k.agreement, 3);
      }
      const unexpected = missing.filter((line) => !known.some(([key]) => {
        const method = key.split('/').pop()!;
        return method === 'best' ? line.includes(': best method ') : line.startsWith(`${name} ${method}:`);
      }));
      expect(unexpected, `${set}: below the issue's thresholds`).toEqual([]);
    }
  }, 900_000);

  // A broken calibrator is caught: every activation scale 16× too small (clipping at 1/16 of the
  // calibrated range). Q1's guard in calibrate keeps a bad option such as `percentile: 90` from
  // cutting where it hurts, so the scales are broken after calibrate instead.
  it.each(['bert-langid', 'bert6-hard'])('%s: a broken calibrator (activation scales ÷ 16) misses the thresholds', async (name) => {
    const p = await preparedModel(name);
    const rows = [await runMethod(p, 'minmax', { samples: SAMPLES[name]!.calibration }, 16)];
    console.log(`\n${markdownTable(rows)}`);
    expect(rows[0]!.agreement).toBeLessThan(0.99);
    expect(shortfalls(rows)).toHaveLength(2); // the method, and the best of one method
  }, 900_000);
});

describe("the table's expected flips", () => {
  // Σ Φ(−m/σ): m the FP32 top-2 gap, σ the RMS change of that gap. Here the gaps move by ±0.1 (σ 0.1):
  // margins 0.1, 0 and 1 flip with probability Φ(−1) = 0.158655, Φ(0) = 0.5 and Φ(−10) ≈ 0.
  it('is the normal tail of each margin over the RMS change of the top-2 gap', () => {
    const ref = [Float32Array.of(0.1, 0, -1), Float32Array.of(0, 0, -2), Float32Array.of(1, 0, 0)];
    const cand = [Float32Array.of(0.2, 0, -1), Float32Array.of(-0.1, 0, -2), Float32Array.of(1.1, 0, 0)];
    expect(expectedFlips(ref, cand)).toBeCloseTo(0.158655 + 0.5, 5);
    expect(expectedFlips(ref, ref)).toBe(0);
  });
});

describe('models/bert6-hard as qrun builds it', () => {
  // The checkpoint is fp16 safetensors with no ONNX file: onnx.export builds the FP32 graph (fp16
  // weights widened to float32), which must give PyTorch's float32 logits of the same weights
  // (tests/fixtures/bert6-hard/reference.json: batch 1, eager attention), and hf.load's tokenizer
  // must give the Python tokenizers library's ids.
  it("onnx.export + onnxruntime match the PyTorch reference logits (max |Δ| < 1e-3), and the token ids match Python's", async () => {
    const ref = JSON.parse(readFileSync(join(REPO, 'tests/fixtures/bert6-hard/reference.json'), 'utf8')) as { labels: string[]; items: { label: string; logits: number[]; ids?: number[] }[] };
    const p = await preparedModel('bert6-hard');
    expect(p.samples).toBe(SAMPLES['bert6-hard']!.evaluation);
    let maxDiff = 0;
    p.reference.forEach((row, i) => row.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - ref.items[i]!.logits[j]!)))));
    console.log(`bert6-hard: ONNX (onnx.export, onnxruntime, padded batches of 32) vs PyTorch float32 (batch 1): max |Δ logit| ${maxDiff.toExponential(2)} over ${p.samples} texts`);
    expect(maxDiff).toBeLessThan(1e-3);
    const tok = await loadTokenizer(join(REPO, 'models/bert6-hard/tokenizer.json'), join(REPO, 'models/bert6-hard/tokenizer_config.json'));
    const texts = readFileSync(join(REPO, 'data/bert6-hard/eval.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { text: string }).text);
    const withIds = ref.items.map((it, i) => [it.ids, texts[i]!] as const).filter(([ids]) => ids);
    expect(withIds.length).toBeGreaterThan(0);
    for (const [ids, text] of withIds) expect(tok.encode(text), text).toEqual(ids);
  }, 900_000);

  // The shipped recipe through the real CLI, up to calibrate (the evaluation is the test above's):
  // hf.load, onnx.export from the fp16 checkpoint, patch, qdq.insert's defaults, calibrate auto.
  it('recipes/bert6-hard-int8.yaml runs through calibrate: 50 MatMul/Gemm quantized, method auto on the 64 calibration texts', async () => {
    const cache = join(tempDir('qrun-bert6-hard-'), 'cache');
    const r = await qrun([join(REPO, 'recipes/bert6-hard-int8.yaml'), '--cache', cache, '--until', 'calibrate', '--out', join(cache, 'out')]);
    expect(r.exitCode, r.stderr + r.stdout.slice(-2000)).toBe(0);
    const { report } = latestReport(cache);
    expect(report.steps.map((x) => [x.id, x.status])).toEqual([['load', 'ran'], ['export', 'ran'], ['patch', 'ran'], ['qdq', 'ran'], ['calibrate', 'ran'], ['sensitivity', 'not-run'], ['save', 'not-run'], ['bench', 'not-run']]);
    expect(step(report, 'qdq').metrics?.quantizedNodes).toBe(50);
    expect(step(report, 'calibrate').metrics).toMatchObject({ method: expect.stringMatching(/^auto/), samples: 64 });
    rmSync(join(cache, '..'), { recursive: true, force: true });
  }, 900_000);
});
