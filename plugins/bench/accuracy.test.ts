// bench's accuracy pass on the shipped BERT with real onnxruntime: the logits are found by name and
// shape (a model exported with its hidden state first is not scored on the hidden state), and labels
// given as class indices — as Hugging Face datasets writes them — score exactly as their names do,
// while labels that fit none of the model's classes fail with the file, the line and the classes.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BERT_DIR, BERT_ONNX } from '../../tests/helpers/bert-langid.ts';
import { REPO } from '../../tests/helpers/cli.ts';
import { node, valueInfo } from '../../tests/helpers/onnx-build.ts';
import { artifact, stepContext, withDefaults } from '../../tests/helpers/step-context.ts';
import { useTempDir } from '../../tests/helpers/temp.ts';
import type { QrunError } from '../../src/errors.ts';
import { decodeModel, encodeModel } from '../../src/onnx/model-io.ts';
import { readModelWithData } from '../../src/runtime/model-file.ts';
import { DataType, type ModelProto } from '../../src/onnx/types.ts';
import { placeQdqForTensorRT } from '../../src/quant/place-qdq.ts';
import hfLoad from '../hf-load/index.ts';
import bench, { type BenchOptions } from './index.ts';

const root = useTempDir();
/** The encoder's last LayerNorm: the hidden state the pooler and classifier read. */
const HIDDEN = '/m/bert/encoder/layer.3/output/LayerNorm/LayerNormalization_output_0';
const LANGID = ['de', 'en', 'es', 'fr', 'it', 'nl', 'pl', 'pt', 'sv'];

let shipped: { fp32: string; int8: string };
let hiddenFirst: { fp32: string; int8: string };
let noLogits: string;

/** A weight-only INT8 twin of `m` (no calibration needed): what bench compares against FP32. */
function writePair(m: ModelProto, name: string): { fp32: string; int8: string } {
  const fp32 = join(root, `${name}.onnx`);
  const bytes = encodeModel(m);
  writeFileSync(fp32, bytes);
  const q = decodeModel(bytes);
  placeQdqForTensorRT(q, { ops: ['MatMul', 'Gemm'], excludeOps: [], excludeNodes: [], activations: 'int8', weights: 'per-channel', attentionMatMuls: false, mode: 'weight-only' });
  const int8 = join(root, `${name}-int8.onnx`);
  writeFileSync(int8, encodeModel(q));
  return { fp32, int8 };
}

/** The shipped model with `last_hidden_state` [batch, sequence, 128] as its first output. */
async function withHiddenStateFirst(keepLogits: boolean): Promise<ModelProto> {
  const m = await readModelWithData(BERT_ONNX);
  m.graph.node.push(node('Identity', [HIDDEN], ['last_hidden_state'], 'export/last_hidden_state'));
  const logits = m.graph.output.find((o) => o.name === 'logits')!;
  m.graph.output = [valueInfo('last_hidden_state', DataType.FLOAT, ['batch', 'sequence', 128]), ...(keepLogits ? [logits] : [])];
  if (!keepLogits) {
    m.graph.node.push(node('Identity', ['/m/bert/pooler/activation/Tanh_output_0'], ['pooler_output'], 'export/pooler_output'));
    m.graph.output.push(valueInfo('pooler_output', DataType.FLOAT, ['batch', 128]));
  }
  return m;
}

/** hf.load's tokenized copy of an evaluation file, as a recipe step would make it. */
async function tokenized(file: string): Promise<string> {
  const ctx = stepContext(root, 'load');
  await hfLoad.run(withDefaults(hfLoad, {}), {}, { model: BERT_DIR, 'data:evaluation': file }, ctx);
  return join(ctx.outDir, 'datasets');
}

/** eval.jsonl with each label rewritten by `label` (line by line, same order). */
function evalCopy(name: string, label: (name: string, line: number) => unknown): string {
  const lines = readFileSync(join(REPO, 'data/langid/eval.jsonl'), 'utf8').split('\n').filter(Boolean);
  const file = join(root, name);
  writeFileSync(file, lines.map((l, i) => JSON.stringify({ ...JSON.parse(l), label: label(JSON.parse(l).label as string, i + 1) })).join('\n') + '\n');
  return file;
}

async function runBench(models: { fp32: string; int8: string }, datasets: string, labelsFile: string, options: Partial<BenchOptions> = {}) {
  const ctx = stepContext(root, 'bench');
  const r = await bench.run(
    withDefaults(bench, { shapes: [{ batch: 1, sequence: 8 }], warmup: 0, iterations: 1, blocks: 1, threads: 1, ...options }),
    { reference: artifact('onnx-model', models.fp32), candidate: artifact('qdq-model', models.int8), datasets: artifact('dataset', datasets), hf: artifact('hf-model', BERT_DIR) },
    { labels: labelsFile },
    ctx,
  );
  return { metrics: r!.metrics! as Record<string, any>, events: ctx.events };
}

async function benchError(...args: Parameters<typeof runBench>): Promise<QrunError> {
  return runBench(...args).then(
    () => {
      throw new Error('bench succeeded');
    },
    (e: QrunError) => e,
  );
}

let names: { file: string; datasets: string };
let byName: Record<string, any>;

beforeAll(async () => {
  shipped = writePair(await readModelWithData(BERT_ONNX), 'shipped');
  hiddenFirst = writePair(await withHiddenStateFirst(true), 'hidden-first');
  noLogits = join(root, 'no-logits.onnx');
  writeFileSync(noLogits, encodeModel(await withHiddenStateFirst(false)));
  const file = join(REPO, 'data/langid/eval.jsonl');
  names = { file, datasets: await tokenized(file) };
  byName = (await runBench(shipped, names.datasets, names.file)).metrics;
}, 120_000);

describe('bench: which output holds the logits', () => {
  it('a model exported with last_hidden_state first and logits second is scored on logits (not 0 %), and says so', async () => {
    expect(byName.fp32Accuracy).toBeGreaterThan(0.9); // the shipped model, one output
    const r = await runBench(hiddenFirst, names.datasets, names.file);
    for (const k of ['fp32Accuracy', 'int8Accuracy', 'agreement', 'maxAbsError']) expect(r.metrics[k], k).toBe(byName[k]);
    expect(r.metrics.logitsOutput).toBe('logits');
    expect(r.events).toContainEqual({ type: 'log', level: 'info', message: 'logits: output "logits" (named "logits")' });
  });

  it('no output that looks like logits: LOGITS_OUTPUT_UNCLEAR listing the outputs with shapes; `output:` chooses one', async () => {
    const models = { fp32: noLogits, int8: noLogits };
    const e = await benchError(models, names.datasets, names.file);
    expect(e.code).toBe('LOGITS_OUTPUT_UNCLEAR');
    expect(e.message).toContain('last_hidden_state [batch, sequence, 128], pooler_output [batch, 128]');
    expect(e.diagnostics[0]!.hint).toContain('output: last_hidden_state, or output: pooler_output');
    // Chosen explicitly, a [batch, 128] output still cannot be scored against 9 classes.
    const wrong = await benchError(models, names.datasets, names.file, { output: 'pooler_output' });
    expect(wrong.code).toBe('LOGITS_OUTPUT_UNCLEAR');
    expect(wrong.message).toContain('output "pooler_output" gives 128 values per sample, but');
    expect((await runBench(hiddenFirst, names.datasets, names.file, { output: 'logits' })).metrics.fp32Accuracy).toBe(byName.fp32Accuracy);
  });
});

describe('bench: evaluation labels', () => {
  it('class indices (JSON numbers, as datasets writes a ClassLabel) give the same accuracy as names', async () => {
    const file = evalCopy('eval-indices.jsonl', (n) => LANGID.indexOf(n));
    const r = await runBench(shipped, await tokenized(file), file);
    expect(r.metrics.fp32Accuracy).toBe(byName.fp32Accuracy);
    expect(r.metrics.int8Accuracy).toBe(byName.int8Accuracy);
  });

  it('indices as strings, and names and indices mixed line by line, give the same accuracy too', async () => {
    const strings = evalCopy('eval-index-strings.jsonl', (n) => String(LANGID.indexOf(n)));
    expect((await runBench(shipped, await tokenized(strings), strings)).metrics.fp32Accuracy).toBe(byName.fp32Accuracy);
    const mixed = evalCopy('eval-mixed.jsonl', (n, line) => (line % 2 ? n : LANGID.indexOf(n)));
    expect((await runBench(shipped, await tokenized(mixed), mixed)).metrics.int8Accuracy).toBe(byName.int8Accuracy);
  });

  it('labels the model does not know fail with the file, the line and the model’s labels (not "accuracy n/a")', async () => {
    const file = evalCopy('eval-english-names.jsonl', (n) => ({ de: 'German', en: 'English', fr: 'French' })[n] ?? n);
    const e = await benchError(shipped, await tokenized(file), file);
    expect(e.code).toBe('LABELS_MISMATCH');
    const d = e.diagnostics[0]!;
    const firstUnknown = readFileSync(file, 'utf8').split('\n').findIndex((l) => /"(German|English|French)"/.test(l)) + 1;
    expect(d.location).toEqual({ file, line: firstUnknown });
    expect(d.message).toMatch(new RegExp(`^\\d+ of 1008 labels in ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} match none of the model's classes`));
    expect(d.message).toContain(`line ${firstUnknown} "`);
    expect(d.message).toContain('0 de, 1 en, 2 es, 3 fr, 4 it, 5 nl, 6 pl, 7 pt, 8 sv');
  });
});

describe('bench: per-class accuracy and confusion matrices', () => {
  it('per class by config.json name: samples, each model’s recall and the FP32→INT8 flips, adding up to the overall numbers', () => {
    const perClass = byName.perClass as { class: string; samples: number; fp32Accuracy: number; int8Accuracy: number; fp32Predicted: number; flipped: number }[];
    expect(perClass.map((c) => c.class)).toEqual(LANGID);
    const samples = perClass.reduce((a, c) => a + c.samples, 0);
    expect(samples).toBe(1008);
    // Recall weighted by support is the overall accuracy; flips over FP32's predictions are 1 − agreement.
    expect(perClass.reduce((a, c) => a + c.fp32Accuracy * c.samples, 0) / samples).toBeCloseTo(byName.fp32Accuracy, 12);
    expect(perClass.reduce((a, c) => a + c.int8Accuracy * c.samples, 0) / samples).toBeCloseTo(byName.int8Accuracy, 12);
    expect(perClass.reduce((a, c) => a + c.fp32Predicted, 0)).toBe(1008);
    expect(1 - perClass.reduce((a, c) => a + c.flipped, 0) / 1008).toBeCloseTo(byName.agreement, 12);
  });

  it('confusion matrices [label][prediction] for FP32 and INT8 and [FP32][INT8], rows summing to the per-class counts', () => {
    const c = byName.confusion as { labels: string[]; fp32: number[][]; int8: number[][]; int8VsFp32: number[][] };
    expect(c.labels).toEqual(LANGID);
    for (const m of [c.fp32, c.int8, c.int8VsFp32]) expect(m.map((r) => r.length)).toEqual(LANGID.map(() => 9));
    const perClass = byName.perClass as { samples: number; fp32Predicted: number; fp32Accuracy: number }[];
    c.fp32.forEach((row, k) => {
      expect(row.reduce((a, b) => a + b, 0)).toBe(perClass[k]!.samples);
      expect(row[k]! / perClass[k]!.samples).toBe(perClass[k]!.fp32Accuracy);
    });
    // Column k of FP32's matrix is every sample FP32 predicted as k: the row of k in [FP32][INT8].
    c.int8VsFp32.forEach((row, k) => expect(row.reduce((a, b) => a + b, 0)).toBe(c.fp32.reduce((a, r) => a + r[k]!, 0)));
  });
});

describe('bench: progress as it happens', () => {
  it('names the shape being timed before and while it is timed (warm-up, each block), then its ratio; the accuracy pass by batch', async () => {
    const { events } = await runBench(shipped, names.datasets, names.file, { samples: 64, shapes: [{ batch: 1, sequence: 8 }, { batch: 2, sequence: 16 }], warmup: 1, iterations: 4, blocks: 2 });
    const progress = events.filter((e: { type: string }) => e.type === 'progress') as { message: string; phase?: string }[];
    const latency = progress.filter((e) => e.phase?.startsWith('latency'));
    expect(latency.map((e) => e.message.replace(/INT8\/FP32 .*/, 'INT8/FP32 …'))).toEqual([
      'latency 1×8 (shape 1/2): warm-up (1 pair)',
      'latency 1×8 (shape 1/2): block 1/2',
      'latency 1×8 (shape 1/2): block 2/2',
      'latency 1×8 (shape 1/2): INT8/FP32 …',
      'latency 2×16 (shape 2/2): warm-up (1 pair)',
      'latency 2×16 (shape 2/2): block 1/2',
      'latency 2×16 (shape 2/2): block 2/2',
      'latency 2×16 (shape 2/2): INT8/FP32 …',
    ]);
    expect(new Set(latency.map((e) => e.phase))).toEqual(new Set(['latency 1×8 (shape 1/2)', 'latency 2×16 (shape 2/2)']));
    const accuracy = progress.filter((e) => e.phase?.startsWith('accuracy'));
    expect(accuracy.length).toBeGreaterThan(1);
    expect(new Set(accuracy.map((e) => e.phase)).size).toBe(1);
    expect(accuracy.at(-1)!.message).toMatch(/^accuracy: batch (\d+)\/\1$/);
  });
});
