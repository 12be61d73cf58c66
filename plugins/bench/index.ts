// bench — FP32 vs INT8 with onnxruntime-node on CPU: accuracy on the evaluation set (label accuracy,
// agreement with FP32, max error, cosine) and latency percentiles over batch × sequence shapes,
// measured interleaved after warm-up so both models see the same machine state.
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import ortRuntime from 'onnxruntime-node';
import type ort from 'onnxruntime-node';
import type { Plugin, SourceRef } from '../../src/engine/plugin.ts';
import type { ClassAccuracy, ConfusionMetrics } from '../../src/engine/metric-shapes.ts';
import { benchMetrics } from './metrics.ts';
import { readTokenizedDataset } from '../../src/data/tokenized-dataset.ts';
import { labelsForScoring, readModelClasses } from '../../src/data/labels.ts';
import { selectLogitsOutput } from '../../src/runtime/logits-output.ts';
import { modelFileBytes, readModelGraph } from '../../src/runtime/model-file.ts';
import { classBreakdown, classRows, compareLogits, type ClassBreakdown } from '../../src/quant/agreement.ts';
import { encoderFeeds, graphInputs } from '../../src/runtime/feeds.ts';
import { fixedInputDims, loadSampleBatches, rowsOf, tensorSourceFor, type SampleBatches } from '../../src/data/model-batches.ts';
import type { ModelProto } from '../../src/onnx/types.ts';
import { createSession, ORT_VERSION } from '../../src/runtime/session.ts';
import { formatWithInterval } from '../../src/stats/noise.ts';
import { latencyRow, overallSpeedup, timeInterleavedBlocks, type LatencyRow } from './latency.ts';
import { fitShapes, mergeFixedDims } from './shapes.ts';
import { taskMetricsKey, taskOfHfFolder } from '../../src/tasks/task.ts';
import { taskDefinition } from '../../src/tasks/registry.ts';
import { generationOptionSchema, type GenerationSettings } from '../../src/tasks/text-generation/settings.ts';
import { candidateLabel } from './candidate-label.ts';

export interface BenchOptions {
  data: string;
  /** Accuracy on the first N samples only; 0 = all. */
  samples: number;
  shapes: { batch: number; sequence: number }[];
  warmup: number;
  iterations: number;
  /** The iterations are timed in this many blocks; their spread is the measurement's noise. */
  blocks: number;
  threads: number;
  batchSize: number;
  /** The graph output holding the logits; default: chosen by name and shape (src/runtime/logits-output.ts). */
  output?: string;
  /** Text generation's prompts, generated tokens and timed batch sizes (src/tasks/text-generation/settings.ts). */
  generation?: Partial<GenerationSettings>;
}

export type { LatencyRow } from './latency.ts';

/** Confusion matrices past this many classes would outweigh the rest of report.json (1000² for ImageNet); the per-class table stays. */
export const MAX_CONFUSION_CLASSES = 50;

// The row shapes are the report's contract for the `per-class` and `confusion` roles (src/engine/metric-shapes.ts).
export type { ClassAccuracy, ConfusionMetrics } from '../../src/engine/metric-shapes.ts';

/** The per-class table and (up to MAX_CONFUSION_CLASSES classes) the confusion matrices, with class names. */
export function classMetrics(b: ClassBreakdown, names: (string | undefined)[]): { perClass: ClassAccuracy[]; confusion?: ConfusionMetrics } {
  const name = (k: number) => names[k] ?? String(k);
  const perClass = classRows(b).map((r) => ({
    class: name(r.index),
    samples: r.support,
    fp32Accuracy: r.referenceAccuracy,
    int8Accuracy: r.candidateAccuracy,
    fp32Predicted: r.referencePredicted,
    flipped: r.flipped,
  }));
  if (b.classes > MAX_CONFUSION_CLASSES) return { perClass };
  const labels = Array.from({ length: b.classes }, (_, k) => name(k));
  return { perClass, confusion: { labels, fp32: b.referenceVsLabels, int8: b.candidateVsLabels, int8VsFp32: b.candidateVsReference } };
}

/** A batch of `batch` copies of the first sample of `feeds` (whose first axis is the batch). */
function tileFirstSample(feeds: Record<string, ort.Tensor>, batch: number): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) {
    const row = t.data.length / Math.max(1, t.dims[0] ?? 1);
    const src = t.data as unknown as { subarray(a: number, b: number): ArrayLike<number>; constructor: new (n: number) => { set(a: ArrayLike<number>, o: number): void } };
    const one = src.subarray(0, row);
    const data = new src.constructor(row * batch);
    for (let b = 0; b < batch; b++) data.set(one, b * row);
    out[name] = new ortRuntime.Tensor(t.type as 'float32', data as unknown as Float32Array, [batch, ...t.dims.slice(1)]);
  }
  return out;
}

/** Rows of `sequence` real token ids, cycling through the data set so shapes hold real text. */
function rowsFor(samples: { ids: number[] }[], batch: number, sequence: number): number[][] {
  const pool = samples.flatMap((s) => s.ids);
  return Array.from({ length: batch }, (_, b) => Array.from({ length: sequence }, (_, j) => pool[(b * sequence + j) % pool.length]!));
}

const bench: Plugin<BenchOptions> = {
  name: 'bench',
  // 1.1: the logits output chosen by name and shape; labels by index or name (src/data/labels.ts).
  // 1.2: per-class accuracy and confusion matrices; a model with fixed input dims timed and fed at them.
  // 1.3: a task with its own evaluation (src/tasks/registry.ts: embeddings) scored by it.
  // 1.4: a task that times its models itself (text generation: time to first token, tokens/s; `generation:`).
  version: '1.4.0',
  description: 'Accuracy and latency of the INT8 model against FP32 with onnxruntime-node (CPU)',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      data: { type: 'string', default: 'evaluation', description: 'name of the data set under `data:` the accuracy and agreement are measured on' },
      samples: { type: 'integer', minimum: 0, default: 0, description: 'accuracy on the first N evaluation samples; 0 = all' },
      shapes: {
        type: 'array',
        minItems: 1,
        description: 'the batch × sequence input shapes latency is measured at, each with FP32 and INT8 interleaved',
        examples: [[{ batch: 1, sequence: 64 }, { batch: 16, sequence: 128 }]],
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['batch', 'sequence'],
          properties: { batch: { type: 'integer', minimum: 1, maximum: 1024, description: 'batch size' }, sequence: { type: 'integer', minimum: 1, maximum: 65536, description: 'sequence length in tokens' } },
        },
        default: [
          { batch: 1, sequence: 32 },
          { batch: 1, sequence: 128 },
          { batch: 8, sequence: 128 },
        ],
      },
      warmup: { type: 'integer', minimum: 0, default: 10, description: 'untimed runs per model and shape before timing (caches, thread pools)' },
      iterations: { type: 'integer', minimum: 1, default: 50, description: 'timed runs per model and shape; more narrows the interval', examples: [200] },
      blocks: {
        type: 'integer',
        minimum: 1,
        default: 10,
        description: 'the iterations are timed in this many blocks of interleaved FP32/INT8 pairs; the spread of the blocks’ INT8/FP32 ratios gives each ratio a 95% bootstrap interval (1 = no noise estimate)',
      },
      threads: { type: 'integer', minimum: 0, default: 0, description: 'intra-op threads; 0 = all cores' },
      batchSize: { type: 'integer', minimum: 1, default: 32, description: 'batch size for the accuracy pass' },
      output: {
        type: 'string',
        minLength: 1,
        description: 'the graph output holding the [batch, classes] logits; default: the one named logits (or containing it, or the one of that shape), an error when that is unclear',
        examples: ['logits'],
      },
      generation: generationOptionSchema,
    },
  },
  inputs: {
    reference: { kind: 'onnx-model', description: 'the FP32 model' },
    candidate: { kind: 'qdq-model', description: 'the INT8 model' },
    datasets: { kind: 'dataset', optional: true, description: 'tokenized text data sets (hf.load); tensor files are read directly' },
    hf: { kind: 'hf-model', optional: true, description: 'config.json for label names' },
  },
  outputs: { result: { kind: 'bench-result', path: 'bench.json' } },
  metrics: benchMetrics,
  // Timings belong to the machine: its CPU and onnxruntime are part of the key.
  async fingerprint(options) {
    const cpu = cpus();
    return { onnxruntime: ORT_VERSION, cpu: cpu[0]?.model ?? 'unknown', cores: cpu.length, threads: options.threads, platform: `${process.platform}-${process.arch}` };
  },
  sources(options, recipe): Record<string, SourceRef> {
    const file = tensorSourceFor(options.data, undefined, recipe, resolve);
    if (file) return { tensors: { path: file } };
    // A text data set is read through hf.load; its file is named here so a label that fits none of
    // the model's classes is reported at its line in the file the user wrote.
    const text = recipe.data[options.data];
    return text ? { labels: text } : {};
  },
  async run(options, inputs, sources, ctx) {
    const classes = await readModelClasses(inputs.hf?.path);
    // Graphs only (inputs, outputs, fixed dims): the sessions below load the weights from the files.
    const refModel = await readModelGraph(inputs.reference!.path);
    const candModel = await readModelGraph(inputs.candidate!.path);
    // A task with its own evaluation (src/tasks/registry.ts: embeddings, …), from hf.load's task.json,
    // is scored by it; otherwise the logits are compared as classes, as below.
    const task = await taskOfHfFolder(inputs.hf?.path);
    const evaluateTask = taskDefinition(task?.task)?.evaluate;
    // The logits by name and shape, not position: a model exported with a hidden state first would
    // otherwise be scored on it. The INT8 model must have the same output.
    const logitsOutput = evaluateTask ? undefined : selectLogitsOutput(refModel, classes?.count, options.output, 'the FP32 model');
    const refOut = logitsOutput?.name ?? '';
    const candOut = logitsOutput ? selectLogitsOutput(candModel, classes?.count, refOut, 'the INT8 model').name : '';
    if (logitsOutput) ctx.emit({ type: 'log', level: 'info', message: `logits: output "${refOut}" (${logitsOutput.reason})` });
    // A model exported with fixed input dims is timed at its own dims (onnxruntime refuses others).
    const fitted = fitShapes(options.shapes, mergeFixedDims(fixedInputDims(refModel), fixedInputDims(candModel)));
    if (fitted.warning) ctx.emit({ type: 'log', level: 'warn', message: `bench: ${fitted.warning}` });
    const settings = { intraOpThreads: options.threads, optimization: 'all' as const };
    const fp32 = await createSession(inputs.reference!.path, settings);
    const int8 = await createSession(inputs.candidate!.path, settings);

    // Accuracy over the evaluation set: token ids from hf.load, or tensors (images) from a file.
    // Both models get batches of the same samples in the same order (their feeds may differ in type).
    const spec = { name: options.data, tensorFile: sources.tensors, datasetsDir: inputs.datasets?.path, batchSize: options.batchSize, limit: options.samples };
    const refData = await loadSampleBatches(refModel, spec);
    const candData = await loadSampleBatches(candModel, spec);
    for (const note of refData.notes ?? []) ctx.emit({ type: 'log', ...note });
    const scoreTask = async (evaluate: NonNullable<typeof evaluateTask>) => {
      const scores = await evaluate({
        fp32,
        int8,
        fp32Batches: refData,
        int8Batches: candData,
        dataset: inputs.datasets && !sources.tensors ? await readTokenizedDataset(inputs.datasets.path, options.data) : undefined,
        hfDir: inputs.hf?.path,
        signal: ctx.signal,
        timing: { warmup: options.warmup, iterations: options.iterations, blocks: options.blocks },
        generation: options.generation,
        progress: (message, done, total) => ctx.emit({ type: 'progress', message, done, total, phase: `${task!.task} evaluation, ${refData.samples} samples in ${refData.batches.length} batches` }),
      });
      const h = scores.headline;
      const key = taskMetricsKey(task!.task);
      const output = String(scores.metrics.output ?? '');
      const metrics = {
        agreement: h.agreement,
        fp32Accuracy: h.fp32Accuracy,
        int8Accuracy: h.int8Accuracy,
        accuracyDrop: h.fp32Accuracy !== null && h.int8Accuracy !== null ? h.fp32Accuracy - h.int8Accuracy : null,
        maxAbsError: h.maxAbsError,
        meanCosine: h.meanCosine,
        minCosine: h.minCosine,
        task: task!.task,
        [key]: scores.metrics,
      };
      return { output, metrics, result: { task: task!.task, [key]: scores.metrics }, latency: scores.latency };
    };
    const scoreClassification = async () => {
      const refLogits: Float32Array[] = new Array(refData.samples);
      const candLogits: Float32Array[] = new Array(refData.samples);
      for (let b = 0; b < refData.batches.length; b++) {
        if (ctx.signal.aborted) throw new Error('interrupted');
        const rb = refData.batches[b]!;
        const r = (await fp32.run(rb.feeds()))[refOut]!;
        const c = (await int8.run(candData.batches[b]!.feeds()))[candOut]!;
        const rr = rowsOf(r);
        const cr = rowsOf(c);
        rb.indices.forEach((i, k) => {
          refLogits[i] = rr[k]!;
          candLogits[i] = cr[k]!;
        });
        ctx.emit({ type: 'progress', message: `accuracy: batch ${b + 1}/${refData.batches.length}`, done: b + 1, total: refData.batches.length, phase: `accuracy, ${refData.samples} samples in ${refData.batches.length} batches` });
      }
      const labelFile = refData.labelFile ?? sources.labels ?? `data set "${options.data}"`;
      const labels = labelsForScoring(refData, classes, { output: refOut, width: refLogits[0]?.length ?? 0 }, labelFile);
      const accuracy = compareLogits(refLogits, candLogits, labels);
      // Where the accuracy goes: per class, and which classes INT8 confuses that FP32 did not.
      const byClass = classMetrics(classBreakdown(refLogits, candLogits, labels, refLogits[0]?.length ?? 0), classes?.names ?? []);
      const metrics = {
        agreement: accuracy.agreement,
        fp32Accuracy: accuracy.referenceAccuracy,
        int8Accuracy: accuracy.candidateAccuracy,
        accuracyDrop: accuracy.referenceAccuracy !== null && accuracy.candidateAccuracy !== null ? accuracy.referenceAccuracy - accuracy.candidateAccuracy : null,
        maxAbsError: accuracy.maxAbsError,
        meanCosine: accuracy.meanCosine,
        minCosine: accuracy.minCosine,
        ...byClass,
      };
      return { output: refOut, metrics, result: { accuracy, ...byClass } };
    };
    const scored = evaluateTask ? await scoreTask(evaluateTask) : await scoreClassification();
    const samples = refData.samples;

    // Feeds per benchmarked shape: real token ids cut to batch × sequence, or (tensor data) the
    // first sample repeated `batch` times — its own shape stands for the sequence.
    const dataset = inputs.datasets && !sources.tensors ? await readTokenizedDataset(inputs.datasets.path, options.data) : undefined;
    const shapeFeeds = (model: ModelProto, data: SampleBatches, batch: number, sequence: number): Record<string, ort.Tensor> => {
      if (dataset) return encoderFeeds(graphInputs(model.graph.input, new Set(model.graph.initializer.map((t) => t.name ?? ''))), rowsFor(dataset.samples, batch, sequence), dataset.padId);
      return tileFirstSample(data.batches[0]!.feeds(), batch);
    };

    // Latency and its noise per shape: interleaved pairs in blocks (plugins/bench/latency.ts).
    // A task that timed its models itself (text generation: time to first token, tokens/s) gives its rows.
    const latency: LatencyRow[] = 'latency' in scored && scored.latency ? scored.latency : [];
    for (const [k, shape] of (latency.length ? [] : fitted.shapes).entries()) {
      const feeds = { fp32: shapeFeeds(refModel, refData, shape.batch, shape.sequence), int8: shapeFeeds(candModel, candData, shape.batch, shape.sequence) };
      const sessions = { fp32, int8 };
      // The phase is the shape, so the terminal says which one is being timed while it is.
      const phase = `latency ${shape.batch}×${shape.sequence} (shape ${k + 1}/${fitted.shapes.length})`;
      const onBlock = (done: number, total: number) =>
        ctx.emit({ type: 'progress', message: done === 0 ? `${phase}: warm-up (${options.warmup} pair${options.warmup === 1 ? '' : 's'})` : `${phase}: block ${done}/${total}`, done, total, phase });
      const blocks = await timeInterleavedBlocks((m) => sessions[m].run(feeds[m]), { warmup: options.warmup, iterations: options.iterations, blocks: options.blocks, signal: ctx.signal, onBlock });
      const row = latencyRow(shape, blocks);
      latency.push(row);
      ctx.emit({ type: 'progress', message: `${phase}: INT8/FP32 ${formatWithInterval({ value: row.ratio, interval: row.ratioInterval })}`, phase });
    }
    await fp32.release();
    await int8.release();

    // A model's size is its .onnx and the external data files it names.
    const sizes = { fp32: await modelFileBytes(inputs.reference!.path), int8: await modelFileBytes(inputs.candidate!.path) };
    const result = { data: options.data, samples, logitsOutput: scored.output, ...scored.result, latency, sizes, settings: { warmup: options.warmup, iterations: options.iterations, blocks: options.blocks, threads: options.threads, onnxruntime: ORT_VERSION } };
    await writeFile(join(ctx.outDir, 'bench.json'), JSON.stringify(result, null, 1));
    return {
      metrics: {
        // Which graph output was scored as the logits (by name and shape, or the `output` option).
        logitsOutput: scored.output,
        // What the reports call the quantized model (INT8, or INT4 for 4-bit weight-only forms).
        candidate: candidateLabel(candModel),
        ...scored.metrics,
        sizeRatio: sizes.int8 / sizes.fp32,
        sizes,
        latency,
        // Geometric mean of the shapes' speed-ups, with its interval (speedupInterval).
        ...overallSpeedup(latency),
      },
    };
  },
};

export default bench;
