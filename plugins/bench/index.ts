// bench — FP32 vs INT8 with onnxruntime-node on CPU: accuracy on the evaluation set (label accuracy,
// agreement with FP32, max error, cosine) and latency percentiles over batch × sequence shapes,
// measured interleaved after warm-up so both models see the same machine state.
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type ort from 'onnxruntime-node';
import type { Plugin } from '../../src/engine/plugin.ts';
import { readTokenizedDataset } from '../../src/data/tokenized-dataset.ts';
import { readModel } from '../../src/onnx/model-io.ts';
import { compareLogits, percentileOf } from '../../src/quant/agreement.ts';
import { batchesByLength, encoderFeeds, graphInputs, type GraphInputInfo } from '../../src/runtime/feeds.ts';
import { createSession, ORT_VERSION } from '../../src/runtime/session.ts';

export interface BenchOptions {
  data: string;
  /** Accuracy on the first N samples only; 0 = all. */
  samples: number;
  shapes: { batch: number; sequence: number }[];
  warmup: number;
  iterations: number;
  threads: number;
  batchSize: number;
}

export interface LatencyRow {
  batch: number;
  sequence: number;
  fp32: { p50: number; p90: number; p99: number; mean: number };
  int8: { p50: number; p90: number; p99: number; mean: number };
  /** INT8 median / FP32 median: below 1 is faster. */
  ratio: number;
  speedup: number;
}

async function inputsOf(path: string): Promise<{ inputs: GraphInputInfo[]; output: string }> {
  const m = await readModel(path);
  return { inputs: graphInputs(m.graph.input, new Set(m.graph.initializer.map((t) => t.name ?? ''))), output: m.graph.output[0]!.name };
}

function summarize(times: number[]) {
  const s = [...times].sort((a, b) => a - b);
  return { p50: percentileOf(s, 50), p90: percentileOf(s, 90), p99: percentileOf(s, 99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

/** Rows of `sequence` real token ids, cycling through the data set so shapes hold real text. */
function rowsFor(samples: { ids: number[] }[], batch: number, sequence: number): number[][] {
  const pool = samples.flatMap((s) => s.ids);
  return Array.from({ length: batch }, (_, b) => Array.from({ length: sequence }, (_, j) => pool[(b * sequence + j) % pool.length]!));
}

const bench: Plugin<BenchOptions> = {
  name: 'bench',
  version: '1.0.0',
  description: 'Accuracy and latency of the INT8 model against FP32 with onnxruntime-node (CPU)',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      data: { type: 'string', default: 'evaluation' },
      samples: { type: 'integer', minimum: 0, default: 0, description: 'accuracy on the first N evaluation samples; 0 = all' },
      shapes: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['batch', 'sequence'],
          properties: { batch: { type: 'integer', minimum: 1, maximum: 1024 }, sequence: { type: 'integer', minimum: 1, maximum: 65536 } },
        },
        default: [
          { batch: 1, sequence: 32 },
          { batch: 1, sequence: 128 },
          { batch: 8, sequence: 128 },
        ],
      },
      warmup: { type: 'integer', minimum: 0, default: 10 },
      iterations: { type: 'integer', minimum: 1, default: 50 },
      threads: { type: 'integer', minimum: 0, default: 0, description: 'intra-op threads; 0 = all cores' },
      batchSize: { type: 'integer', minimum: 1, default: 32, description: 'batch size for the accuracy pass' },
    },
  },
  inputs: {
    reference: { kind: 'onnx-model', description: 'the FP32 model' },
    candidate: { kind: 'qdq-model', description: 'the INT8 model' },
    datasets: { kind: 'dataset' },
    hf: { kind: 'hf-model', optional: true, description: 'config.json for label names' },
  },
  outputs: { result: { kind: 'bench-result', path: 'bench.json' } },
  // Timings belong to the machine: its CPU and onnxruntime are part of the key.
  async fingerprint(options) {
    const cpu = cpus();
    return { onnxruntime: ORT_VERSION, cpu: cpu[0]?.model ?? 'unknown', cores: cpu.length, threads: options.threads, platform: `${process.platform}-${process.arch}` };
  },
  async run(options, inputs, _sources, ctx) {
    const dataset = await readTokenizedDataset(inputs.datasets!.path, options.data);
    let id2label: Record<string, string> | undefined;
    const configPath = inputs.hf ? join(inputs.hf.path, 'config.json') : undefined;
    if (configPath && existsSync(configPath)) id2label = (JSON.parse(await readFile(configPath, 'utf8')) as { id2label?: Record<string, string> }).id2label;
    const labelIndex = new Map(Object.entries(id2label ?? {}).map(([k, v]) => [v, Number(k)]));

    const ref = await inputsOf(inputs.reference!.path);
    const cand = await inputsOf(inputs.candidate!.path);
    const settings = { intraOpThreads: options.threads, optimization: 'all' as const };
    const fp32 = await createSession(inputs.reference!.path, settings);
    const int8 = await createSession(inputs.candidate!.path, settings);

    // Accuracy over the whole evaluation set.
    const samples = options.samples > 0 ? dataset.samples.slice(0, options.samples) : dataset.samples;
    const refLogits: Float32Array[] = new Array(samples.length);
    const candLogits: Float32Array[] = new Array(samples.length);
    const batches = batchesByLength(samples.map((s) => s.ids.length), options.batchSize);
    for (let b = 0; b < batches.length; b++) {
      if (ctx.signal.aborted) throw new Error('interrupted');
      const idx = batches[b]!;
      const rows = idx.map((i) => samples[i]!.ids);
      const r = (await fp32.run(encoderFeeds(ref.inputs, rows, dataset.padId)))[ref.output]!;
      const c = (await int8.run(encoderFeeds(cand.inputs, rows, dataset.padId)))[cand.output]!;
      const width = r.dims[r.dims.length - 1]!;
      idx.forEach((i, k) => {
        refLogits[i] = (r.data as Float32Array).slice(k * width, (k + 1) * width);
        candLogits[i] = (c.data as Float32Array).slice(k * width, (k + 1) * width);
      });
      ctx.emit({ type: 'progress', message: `accuracy: batch ${b + 1}/${batches.length}`, done: b + 1, total: batches.length });
    }
    const labels = samples.map((s) => (s.label !== null && labelIndex.has(s.label) ? labelIndex.get(s.label)! : null));
    const accuracy = compareLogits(refLogits, candLogits, labels);

    // Latency, interleaved: each iteration runs both models, alternating which goes first.
    const latency: LatencyRow[] = [];
    for (const shape of options.shapes) {
      const rows = rowsFor(samples, shape.batch, shape.sequence);
      const feedsRef = encoderFeeds(ref.inputs, rows, dataset.padId);
      const feedsCand = encoderFeeds(cand.inputs, rows, dataset.padId);
      const time = async (s: ort.InferenceSession, feeds: Record<string, ort.Tensor>) => {
        const t0 = performance.now();
        await s.run(feeds);
        return performance.now() - t0;
      };
      for (let i = 0; i < options.warmup; i++) {
        await time(fp32, feedsRef);
        await time(int8, feedsCand);
      }
      const tRef: number[] = [];
      const tCand: number[] = [];
      for (let i = 0; i < options.iterations; i++) {
        if (ctx.signal.aborted) throw new Error('interrupted');
        if (i % 2 === 0) {
          tRef.push(await time(fp32, feedsRef));
          tCand.push(await time(int8, feedsCand));
        } else {
          tCand.push(await time(int8, feedsCand));
          tRef.push(await time(fp32, feedsRef));
        }
      }
      const a = summarize(tRef);
      const b = summarize(tCand);
      latency.push({ batch: shape.batch, sequence: shape.sequence, fp32: a, int8: b, ratio: b.p50 / a.p50, speedup: a.p50 / b.p50 });
      ctx.emit({ type: 'progress', message: `latency ${shape.batch}×${shape.sequence}: INT8/FP32 ${(b.p50 / a.p50).toFixed(2)}` });
    }
    await fp32.release();
    await int8.release();

    const sizes = { fp32: (await stat(inputs.reference!.path)).size, int8: (await stat(inputs.candidate!.path)).size };
    const result = { data: options.data, samples: samples.length, accuracy, latency, sizes, settings: { warmup: options.warmup, iterations: options.iterations, threads: options.threads, onnxruntime: ORT_VERSION } };
    await writeFile(join(ctx.outDir, 'bench.json'), JSON.stringify(result, null, 1));
    const ratios = latency.map((l) => l.ratio);
    return {
      metrics: {
        agreement: accuracy.agreement,
        fp32Accuracy: accuracy.referenceAccuracy,
        int8Accuracy: accuracy.candidateAccuracy,
        accuracyDrop: accuracy.referenceAccuracy !== null && accuracy.candidateAccuracy !== null ? accuracy.referenceAccuracy - accuracy.candidateAccuracy : null,
        maxAbsError: accuracy.maxAbsError,
        meanCosine: accuracy.meanCosine,
        minCosine: accuracy.minCosine,
        sizeRatio: sizes.int8 / sizes.fp32,
        sizes,
        latency,
        speedup: Math.exp(-ratios.reduce((s, r) => s + Math.log(r), 0) / ratios.length),
      },
    };
  },
};

export default bench;
