// calibrate — runs the calibration set through onnxruntime-node on the FP32 model with every
// quantized activation added as a graph output, collects streaming statistics, and writes the
// activation scales (and zero points) into the QDQ model's QuantizeLinear/DequantizeLinear inputs.
// Methods: minmax; percentile, entropy (TensorRT's KL calibrator) and mse on the |x| histogram
// (src/quant/*-calibrator.ts). Outputs of Softmax, Sigmoid and Tanh take the range the operator
// guarantees instead, with every method (src/quant/known-ranges.ts). Data: the tokenized text data
// set `data`, or tensors (.npy, .npz, .tensors.jsonl) named by `tensors:` or by the data set's own
// file (src/data/tensor-dataset.ts).
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { errors } from '../../src/errors.ts';
import type { Plugin, SourceRef } from '../../src/engine/plugin.ts';
import { calibrateMetrics } from './metrics.ts';
import type ort from 'onnxruntime-node';
import { loadSampleBatches, tensorSourceFor, type SampleBatches, type SampleSpec } from '../../src/data/model-batches.ts';
import type { ModelProto } from '../../src/onnx/types.ts';
import { forEachActivation, modelWithOutputs } from '../../src/quant/activation-runner.ts';
import { calibrateEntropy } from '../../src/quant/entropy-calibrator.ts';
import { calibrateMse } from '../../src/quant/mse-calibrator.ts';
import { knownRanges } from '../../src/quant/known-ranges.ts';
import { GrowingAbsHistogram, MinMaxCollector } from '../../src/quant/range-collector.ts';
import { applyActivationScales, findActivationSlots } from '../../src/quant/activation-scales.ts';
import { shareConcatScales } from '../../src/quant/cnn-placement.ts';
import { readModelGraph, sessionModel, writeModelFile } from '../../src/runtime/model-file.ts';
import { createSession, ORT_VERSION } from '../../src/runtime/session.ts';
import { PeakRssMeter } from './peak-rss.ts';
import { fractionBeyond } from './saturation.ts';

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy' | 'mse';

export interface CalibrateOptions {
  method: CalibrationMethod;
  percentile: number;
  data: string;
  /** A tensor file (.npy/.npz/.tensors.jsonl) to calibrate on instead of the data set `data`. */
  tensors?: string;
  /** Use at most this many samples (the first N); 0 = all. */
  samples: number;
  batchSize: number;
  bins: number;
}

/**
 * The FP32 model with every calibrated tensor as an extra output, in onnxruntime, and the data's
 * batches. The graph is read without its weights: onnxruntime loads a .onnx written in `tmpDir` with
 * the extra outputs, whose weights are links to the FP32 model's own files (src/runtime/model-file.ts
 * sessionModel), so the weights are in memory once, in the session.
 */
async function openCalibrationSession(
  reading: Promise<ModelProto>,
  fetches: string[],
  tmpDir: string,
  spec: SampleSpec,
): Promise<{ session: ort.InferenceSession; data: SampleBatches }> {
  const model = await reading;
  const produced = new Set([...model.graph.node.flatMap((n) => n.output), ...model.graph.input.map((i) => i.name)]);
  for (const t of fetches) {
    if (!produced.has(t)) throw errors.usage(`calibrate: tensor "${t}" of the QDQ model is not in the FP32 model`, 'wire `float:` to the model qdq.insert started from');
  }
  const data = await loadSampleBatches(model, spec);
  const session = await createSession(await sessionModel(modelWithOutputs(model, fetches), join(tmpDir, 'calibration-model')), { optimization: 'basic' });
  return { session, data };
}

export { findActivationSlots };

const calibrate: Plugin<CalibrateOptions> = {
  name: 'calibrate',
  version: '1.2.0', // 1.2: Softmax/Sigmoid/Tanh outputs take their known range (src/quant/known-ranges.ts); calibration.json's rangeFrom
  description: 'Compute activation scales from the calibration set with onnxruntime',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      method: {
        enum: ['minmax', 'percentile', 'entropy', 'mse'],
        default: 'percentile',
        description:
          "How each activation's range is chosen: minmax: the largest |x| seen; percentile: that percentile of |x| (clips rare outliers); entropy: the threshold whose clipped histogram is closest in KL divergence (TensorRT's entropy calibrator); mse: the threshold with the least mean squared quantization error",
        examples: ['entropy'],
      },
      percentile: { type: 'number', exclusiveMinimum: 50, maximum: 100, default: 99.99, description: 'the percentile of |x| kept (method: percentile)', examples: [99.9] },
      data: { type: 'string', default: 'calibration', description: 'name of the data set under `data:`' },
      tensors: { type: 'string', minLength: 1, description: 'a .npy/.npz/.tensors.jsonl file of model inputs (relative to the recipe)', examples: ['data/calib.npz'] },
      samples: { type: 'integer', minimum: 0, default: 0, description: 'use the first N samples; 0 = all (128–512 is typical)', examples: [256] },
      batchSize: { type: 'integer', minimum: 1, maximum: 1024, default: 16, description: 'samples per onnxruntime batch (memory grows with it)' },
      bins: { type: 'integer', minimum: 128, maximum: 1048576, default: 8192, description: 'histogram bins of |x| (percentile, entropy, mse): more bins, finer thresholds', examples: [2048] },
    },
  },
  inputs: {
    model: { kind: 'qdq-model', description: 'QDQ model whose activation scales are written' },
    float: { kind: 'onnx-model', description: 'the FP32 model the statistics are collected on' },
    datasets: { kind: 'dataset', optional: true, description: 'tokenized text data sets (hf.load); not needed with tensor data' },
  },
  outputs: {
    model: { kind: 'qdq-model', path: 'model.onnx' },
    stats: { kind: 'calib-stats', path: 'calibration.json' },
  },
  metrics: calibrateMetrics,
  sources(options, recipe) {
    const file = tensorSourceFor(options.data, options.tensors, recipe, resolve);
    const out: Record<string, SourceRef> = {};
    if (file) out.tensors = { path: file };
    return out;
  },
  async fingerprint() {
    return { onnxruntime: ORT_VERSION };
  },
  async run(options, inputs, sources, ctx) {
    // The QDQ model (which tensors to fetch) and the FP32 model are read at the same time, both
    // without their weights: only activation scales change here, and writeModelFile copies the QDQ
    // model's weights from its input files.
    const reading = readModelGraph(inputs.model!.path).then((qdq) => ({ qdq, slots: findActivationSlots(qdq) }));
    const floatGraph = readModelGraph(inputs.float!.path);
    floatGraph.catch(() => undefined); // awaited below, or dropped when there is nothing to calibrate
    const { qdq, slots } = await reading;
    if (slots.length === 0) {
      // Weight-only or dynamic quantization (qdq.insert mode: weight-only | dynamic): no activation
      // scale to compute. The model passes through unchanged.
      ctx.emit({ type: 'log', level: 'info', message: 'no activation QuantizeLinear in the model (weight-only or dynamic quantization): nothing to calibrate' });
      await writeModelFile(qdq, join(ctx.outDir, 'model.onnx'));
      await writeFile(join(ctx.outDir, 'calibration.json'), JSON.stringify({ method: options.method, samples: 0, tensors: [] }, null, 1));
      return { metrics: { method: 'none (no activation quantization)', samples: 0, tensors: 0 } };
    }

    const meter = new PeakRssMeter();
    const fetches = slots.map((s) => s.tensor);
    const { session, data } = await openCalibrationSession(floatGraph, fetches, ctx.tmpDir, {
      name: options.data,
      tensorFile: sources.tensors,
      datasetsDir: inputs.datasets?.path,
      batchSize: options.batchSize,
      limit: options.samples,
    });
    // Padding or cutting to a model's fixed sequence length, a fixed batch size: said once.
    for (const note of data.notes ?? []) ctx.emit({ type: 'log', ...note });
    if (data.samples === 0) {
      await session.release();
      throw errors.dataEmpty(options.tensors ?? options.data);
    }
    const batches = data.batches;
    // Tensors whose range the producing op fixes: no histogram, no threshold to choose.
    const known = knownRanges(await floatGraph, fetches);
    const runAll = (pass: string, visit: (slot: number, data: Float32Array) => void) =>
      forEachActivation(session, batches, fetches, (k, t) => visit(k, t.data as Float32Array), {
        signal: ctx.signal,
        onBatch: (done, total) => {
          meter.sample();
          ctx.emit({ type: 'progress', message: `${pass}: batch ${done}/${total}`, done, total, phase: `${pass}, ${data.samples} samples in ${total} batches` });
        },
      });

    // One pass: min/max and, for the histogram methods, an |x| histogram whose range grows with
    // the data (TensorRT's way), instead of a min/max pass and then a histogram pass.
    const ranges = slots.map(() => new MinMaxCollector());
    const hists = options.method === 'minmax' ? undefined : slots.map((_, k) => (known[k] ? undefined : new GrowingAbsHistogram(options.bins)));
    await runAll(options.method === 'minmax' ? 'min/max' : `min/max + histogram (${options.method})`, (k, d) => {
      const absMax = ranges[k]!.add(d);
      hists?.[k]?.add(d, absMax);
    });
    let thresholds = ranges.map((r) => r.absMax);
    // minmax keeps every value in range: nothing saturates. The histogram methods say how much does.
    const extra: Record<string, unknown>[] = slots.map(() => ({ saturated: 0 }));
    if (hists) {
      thresholds = hists.map((g, k) => {
        if (!g) return thresholds[k]!;
        const h = g.toHistogram();
        const chosen = (threshold: number, more: Record<string, unknown> = {}) => {
          extra[k] = { saturated: fractionBeyond(h, threshold), ...more };
          return threshold;
        };
        if (options.method === 'percentile') return chosen(h.percentile(options.percentile));
        if (options.method === 'entropy') {
          const e = calibrateEntropy(h);
          return chosen(e.threshold, { divergence: e.divergence });
        }
        const m = calibrateMse(h);
        return chosen(m.threshold, { mse: m.error, minmaxMse: m.minmaxError });
      });
    }
    await session.release();
    const peakRssDeltaMiB = meter.stop();

    // A known range replaces the observed one whatever the method: int8 gets T = max(|min|, |max|)
    // (1/127 for [0, 1]), uint8 the exact [min, max] (1/255, zero point 0 for [0, 1]).
    known.forEach((r, k) => {
      if (r) thresholds[k] = Math.max(Math.abs(r.min), Math.abs(r.max));
    });
    const params = applyActivationScales(
      qdq,
      slots,
      slots.map((_, k) => ({ min: known[k]?.min ?? ranges[k]!.min, max: known[k]?.max ?? ranges[k]!.max, threshold: thresholds[k]! })),
    );
    // A Concat's input pairs take its output's scale, so TensorRT keeps it in int8 (src/quant/cnn-placement.ts).
    const concats = shareConcatScales(qdq);
    if (concats.length) ctx.emit({ type: 'log', level: 'info', message: `${concats.length} Concat(s): inputs share the output's scale` });
    const methodName = options.method === 'percentile' ? `percentile ${options.percentile}` : options.method;
    const stats = slots.map((s, k) => {
      const r = ranges[k]!;
      const t = thresholds[k]!;
      // A known bound can lie beyond the largest value seen: nothing is cut then (not a negative cut).
      const clipped = r.absMax > 0 ? Math.max(0, 1 - t / r.absMax) : 0;
      return { tensor: s.tensor, min: r.min, max: r.max, threshold: t, rangeFrom: known[k]?.rule ?? methodName, clipped, scale: Math.fround(params[k]!.scale), zeroPoint: params[k]!.zeroPoint, ...extra[k] };
    });
    await writeModelFile(qdq, join(ctx.outDir, 'model.onnx'));
    await writeFile(join(ctx.outDir, 'calibration.json'), JSON.stringify({ method: options.method, percentile: options.method === 'percentile' ? options.percentile : undefined, samples: data.samples, batches: batches.length, tensors: stats }, null, 1));
    const clipped = stats.map((s) => s.clipped as number);
    return {
      metrics: {
        method: methodName,
        data: sources.tensors ? `tensors: ${sources.tensors.split('/').pop()}` : options.data,
        samples: data.samples,
        batches: batches.length,
        tensors: slots.length,
        meanClippedRange: clipped.reduce((a, b) => a + b, 0) / Math.max(1, clipped.length),
        peakRssDeltaMiB,
      },
    };
  },
};

export default calibrate;
