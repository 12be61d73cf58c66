// sensitivity on the shipped BERT, calibrated, with the classifier's activation scale sabotaged (far
// too coarse: every pooled value rounds to 0): that layer ranks most sensitive, the full model misses the agreement target, and
// the fallback returns exactly that layer to float, which meets it. Without a target the model passes
// through unchanged.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { agreementOf, BERT_DIR, BERT_ONNX, logitsOf, writeLangidDatasets } from '../../tests/helpers/bert-langid.ts';
import { artifact, stepContext, withDefaults } from '../../tests/helpers/step-context.ts';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { REPO } from '../../tests/helpers/cli.ts';
import type { QrunError } from '../../src/errors.ts';
import { decodeModel, encodeModel } from '../../src/onnx/model-io.ts';
import { readModelWithData } from '../../src/runtime/model-file.ts';
import { makeFloatTensor } from '../../src/onnx/tensor.ts';
import { DataType, type ModelProto } from '../../src/onnx/types.ts';
import { placeQdqForTensorRT } from '../../src/quant/place-qdq.ts';
import { findQuantizedNodes } from '../../src/quant/qdq-groups.ts';
import calibrate from '../calibrate/index.ts';
import hfLoad from '../hf-load/index.ts';
import sensitivity, { type SensitivityOptions } from './index.ts';
import { searchFallback } from './fallback.ts';

const root = useTempDir();
const SABOTAGED = '/m/classifier/Gemm';
let datasets: string;
let calibrated: string;
let sabotaged: string;

beforeAll(async () => {
  datasets = await writeLangidDatasets(root, { calibration: 64, evaluation: 64 });
  const m = await readModelWithData(BERT_ONNX);
  placeQdqForTensorRT(m, { ops: ['MatMul', 'Gemm'], excludeOps: [], excludeNodes: [], activations: 'int8', weights: 'per-channel', attentionMatMuls: true });
  const qdqPath = join(root, 'qdq.onnx');
  writeFileSync(qdqPath, encodeModel(m));
  const ctx = stepContext(root, 'calibrate');
  await calibrate.run(withDefaults(calibrate, { method: 'percentile' }), { model: artifact('qdq-model', qdqPath), float: artifact('onnx-model', BERT_ONNX), datasets: artifact('dataset', datasets) }, {}, ctx);
  calibrated = join(ctx.outDir, 'model.onnx');
  const bad = await readModelWithData(calibrated);
  const q = bad.graph.node.find((n) => n.opType === 'QuantizeLinear' && n.name?.startsWith(`${SABOTAGED}/input_0`))!;
  Object.assign(bad.graph.initializer.find((t) => t.name === q.input[1])!, makeFloatTensor(q.input[1]!, [], Float32Array.of(10)));
  sabotaged = join(root, 'sabotaged.onnx');
  writeFileSync(sabotaged, encodeModel(bad));
});

async function runSensitivity(model: string, options: Partial<SensitivityOptions>) {
  const ctx = stepContext(root, 'sensitivity');
  const r = await sensitivity.run(
    withDefaults(sensitivity, { samples: 32, ...options }),
    { model: artifact('qdq-model', model), float: artifact('onnx-model', BERT_ONNX), datasets: artifact('dataset', datasets), hf: artifact('hf-model', BERT_DIR) },
    {},
    ctx,
  );
  return { metrics: r!.metrics! as Record<string, any>, out: join(ctx.outDir, 'model.onnx'), report: JSON.parse(readFileSync(join(ctx.outDir, 'sensitivity.json'), 'utf8')) };
}

describe('sensitivity', () => {
  it('ranks the sabotaged layer first; agreement target → exactly that layer in float, target met', async () => {
    const r = await runSensitivity(sabotaged, { target: { agreement: 0.99 } });
    expect(r.report.layers).toHaveLength(34);
    expect(r.report.layers[0].node).toBe(SABOTAGED);
    expect(r.report.layers[0].sqnrDb).toBeLessThan(r.report.layers[1].sqnrDb);
    // Sorted by SQNR, ascending.
    const sq = r.report.layers.map((l: { sqnrDb: number }) => l.sqnrDb);
    expect(sq).toEqual([...sq].sort((a, b) => a - b));
    expect(r.metrics.full.agreement).toBeLessThan(0.99);
    expect(r.metrics.fallback).toEqual([SABOTAGED]);
    expect(r.metrics.targetMet).toBe(true);
    expect(r.metrics.agreement).toBeGreaterThanOrEqual(0.99);
    // The output model: that node's inputs are float again, everything else still quantized.
    const out = await readModelWithData(r.out);
    const left = findQuantizedNodes(out).map((n) => n.name);
    expect(left).toHaveLength(33);
    expect(left).not.toContain(SABOTAGED);
    const ref = await logitsOf(BERT_ONNX, datasets);
    expect((await agreementOf(ref, r.out, datasets)).agreement).toBeGreaterThanOrEqual(0.99);
  });

  it('without a target (or when the target already holds) the model passes through byte-identical', async () => {
    const r = await runSensitivity(calibrated, { target: { accuracyDrop: 0.02 }, samples: 32, perLayer: 'auto' });
    expect(r.metrics.fallback).toEqual([]);
    // perLayer: auto skips the per-layer pass when the full model already meets the target.
    expect(r.report.layers).toEqual([]);
    expect(r.metrics.evaluations).toBe(2);
    expect(r.metrics.targetMet).toBe(true);
    expect(r.metrics.accuracyDrop).toBeLessThanOrEqual(0.02);
    expect(readFileSync(r.out).equals(readFileSync(calibrated))).toBe(true);
  });
});

describe('sensitivity: fallback: { layers: N } (a fixed budget, BladeDISC style)', () => {
  it('returns the N most sensitive layers of the table to float, measured once, perLayer: auto notwithstanding', async () => {
    const r = await runSensitivity(sabotaged, { fallback: { layers: 3 }, perLayer: 'auto' });
    expect(r.report.layers).toHaveLength(34);
    const top3 = r.report.layers.slice(0, 3).map((l: { node: string }) => l.node);
    expect(top3[0]).toBe(SABOTAGED);
    expect(r.metrics.fallback).toEqual(top3);
    expect(r.metrics.fallbackMode).toBe('layers: 3');
    expect(r.report.fallbackMode).toBe('layers: 3');
    expect(r.metrics.targetMet).toBeNull();
    // 34 layers alone + FP32 + full INT8 + the one fallback model.
    expect(r.metrics.evaluations).toBe(37);
    const out = await readModelWithData(r.out);
    const left = findQuantizedNodes(out).map((n) => n.name);
    expect(left).toHaveLength(31);
    for (const n of top3) expect(left).not.toContain(n);
    // The metrics are the output model's own, measured in onnxruntime.
    const ref = await logitsOf(BERT_ONNX, datasets);
    const measured = await agreementOf(ref, r.out, datasets);
    expect(measured.agreement).toBeGreaterThanOrEqual(0.99);
    expect(r.metrics.agreement).toBeGreaterThan(r.metrics.full.agreement);
  });

  it('more layers than there are: all of them; with a target as well: a usage error', async () => {
    const all = await runSensitivity(calibrated, { fallback: { layers: 100 }, samples: 8 });
    expect(all.metrics.fallback).toHaveLength(34);
    expect(findQuantizedNodes(await readModelWithData(all.out))).toHaveLength(0);
    const err = await runSensitivity(calibrated, { fallback: { layers: 1 }, target: { agreement: 0.99 } }).then(() => undefined, (e: QrunError) => e);
    expect(err?.code).toBe('USAGE');
    expect(err?.message).toMatch(/fallback.*target/);
  });
});

describe('searchFallback', () => {
  it('doubling then bisection finds the smallest passing count in few evaluations', async () => {
    const calls: number[] = [];
    const r = await searchFallback(34, async (k) => (calls.push(k), k >= 11), 'doubling');
    expect(r.count).toBe(11);
    expect(calls).toEqual([1, 2, 4, 8, 16, 12, 10, 11]);
  });

  it('linear tries one more at a time; nothing passing ends with all', async () => {
    expect((await searchFallback(5, async (k) => k >= 3, 'linear')).tried.map((t) => t.count)).toEqual([1, 2, 3]);
    expect((await searchFallback(5, async () => false, 'doubling')).count).toBe(5);
  });
});

describe('sensitivity: labels and the logits output (src/data/labels.ts, src/runtime/logits-output.ts, shared with bench)', () => {
  const LANGID = ['de', 'en', 'es', 'fr', 'it', 'nl', 'pl', 'pt', 'sv'];
  const HIDDEN = '/m/bert/encoder/layer.3/output/LayerNorm/LayerNormalization_output_0';

  /** hf.load's tokenized copy of the first 64 evaluation lines, labels rewritten by `label`. */
  async function evaluationSet(name: string, label: (n: string) => unknown): Promise<{ file: string; datasets: string }> {
    const lines = readFileSync(join(REPO, 'data/langid/eval.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, 64);
    const file = join(root, name);
    writeFileSync(file, lines.map((l) => JSON.stringify({ ...JSON.parse(l), label: label(JSON.parse(l).label as string) })).join('\n') + '\n');
    const ctx = stepContext(root, 'load');
    await hfLoad.run(withDefaults(hfLoad, {}), {}, { model: BERT_DIR, 'data:evaluation': file }, ctx);
    return { file, datasets: join(ctx.outDir, 'datasets') };
  }

  /** FP32 and weight-only QDQ files of `m` (no calibration needed). */
  function pair(m: ModelProto, name: string): { fp32: string; qdq: string } {
    const bytes = encodeModel(m);
    const q = decodeModel(bytes);
    placeQdqForTensorRT(q, { ops: ['MatMul', 'Gemm'], excludeOps: [], excludeNodes: [], activations: 'int8', weights: 'per-channel', attentionMatMuls: false, mode: 'weight-only' });
    const out = { fp32: join(root, `${name}.onnx`), qdq: join(root, `${name}-qdq.onnx`) };
    writeFileSync(out.fp32, bytes);
    writeFileSync(out.qdq, encodeModel(q));
    return out;
  }

  async function run(models: { fp32: string; qdq: string }, data: { file: string; datasets: string }) {
    const ctx = stepContext(root, 'sensitivity');
    const r = await sensitivity.run(
      withDefaults(sensitivity, { samples: 64, perLayer: 'auto', target: { accuracyDrop: 1 } }),
      { model: artifact('qdq-model', models.qdq), float: artifact('onnx-model', models.fp32), datasets: artifact('dataset', data.datasets), hf: artifact('hf-model', BERT_DIR) },
      { labels: data.file },
      ctx,
    );
    return { metrics: r!.metrics! as Record<string, any>, report: JSON.parse(readFileSync(join(ctx.outDir, 'sensitivity.json'), 'utf8')) };
  }

  it('class indices score as names do; a model exported with last_hidden_state first is compared on logits', async () => {
    const shipped = pair(await readModelWithData(BERT_ONNX), 'shipped');
    const hiddenFirst = await readModelWithData(BERT_ONNX);
    hiddenFirst.graph.node.push({ opType: 'Identity', input: [HIDDEN], output: ['last_hidden_state'], name: 'export/last_hidden_state', attribute: [] });
    hiddenFirst.graph.output.unshift({ name: 'last_hidden_state', type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'sequence' }, { dimValue: 128 }] } } } });
    const twoOutputs = pair(hiddenFirst, 'hidden-first');

    const names = await run(shipped, await evaluationSet('names.jsonl', (n) => n));
    expect(names.report.fp32Accuracy).toBeGreaterThan(0.9);
    const indices = await run(shipped, await evaluationSet('indices.jsonl', (n) => LANGID.indexOf(n)));
    expect(indices.report.fp32Accuracy).toBe(names.report.fp32Accuracy);
    expect(indices.metrics.accuracyDrop).toBe(names.metrics.accuracyDrop);

    const hidden = await run(twoOutputs, await evaluationSet('names-2.jsonl', (n) => n));
    expect(hidden.metrics.logitsOutput).toBe('logits');
    expect(hidden.report.output).toBe('logits');
    expect(hidden.metrics.full).toEqual(names.metrics.full);
    expect(hidden.report.fp32Accuracy).toBe(names.report.fp32Accuracy);
  }, 120_000);

  it('labels the model does not know: LABELS_MISMATCH naming the file and line, not an accuracy over the rest', async () => {
    const data = await evaluationSet('english.jsonl', (n) => (n === 'de' ? 'German' : n));
    const err = await run(pair(await readModelWithData(BERT_ONNX), 'shipped-2'), data).then(() => undefined, (e: QrunError) => e);
    expect(err?.code).toBe('LABELS_MISMATCH');
    const line = readFileSync(data.file, 'utf8').split('\n').findIndex((l) => l.includes('"German"')) + 1;
    expect(err?.diagnostics[0]!.location).toEqual({ file: data.file, line });
    expect(err?.message).toContain('0 de, 1 en, 2 es');
  }, 120_000);
});
