// calibrate — runs the calibration set through onnxruntime-node on the FP32 model with every
// quantized activation added as a graph output, collects streaming statistics, and writes the
// activation scales (and zero points) into the QDQ model's QuantizeLinear/DequantizeLinear inputs.
// Methods: minmax; percentile, entropy (TensorRT's KL calibrator) and mse on the |x| histogram
// (src/quant/*-calibrator.ts), none cutting below the threshold of least consumer-output error; auto, per
// tensor the candidate of least consumer-output error (src/quant/auto-calibrator.ts). Outputs of
// Softmax, Sigmoid and Tanh take the range the operator guarantees instead, with every method; Relu
// and Clip outputs stay within their bounds (src/quant/known-ranges.ts). Data: the tokenized text data
// set `data`, or tensors (.npy, .npz, .tensors.jsonl) named by `tensors:` or by the data set's own
// file (src/data/tensor-dataset.ts).
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { errors } from '../../src/errors.ts';
import type { Plugin, SourceRef } from '../../src/engine/plugin.ts';
import { calibrateMetrics } from './metrics.ts';
import type ort from 'onnxruntime-node';
import { loadSampleBatches, tensorSourceFor, type SampleBatches, type SampleSpec } from '../../src/data/model-batches.ts';
import type { ModelProto, NodeProto, TensorProto } from '../../src/onnx/types.ts';
import { forEachActivation, modelWithOutputs } from '../../src/quant/activation-runner.ts';
import { chooseThreshold, type CalibrationMethod, type CandidateMethod, type TensorHistograms } from '../../src/quant/auto-calibrator.ts';
import { channelLayout, consumerWeights } from '../../src/quant/consumer-weights.ts';
import { INT8_GRID, type Grid } from '../../src/quant/mse-calibrator.ts';
import { knownRanges } from '../../src/quant/known-ranges.ts';
import { GrowingAbsHistogram, MinMaxCollector } from '../../src/quant/range-collector.ts';
import { DataType } from '../../src/onnx/types.ts';
import { applyActivationScales, findActivationSlots } from '../../src/quant/activation-scales.ts';
import { shareConcatScales } from '../../src/quant/cnn-placement.ts';
import { readModelGraph, sessionModel, writeModelFile } from '../../src/runtime/model-file.ts';
import { createSession, ORT_VERSION } from '../../src/runtime/session.ts';
import { PeakRssMeter } from './peak-rss.ts';
import { applyShifts, centredRange, ChannelRange, chooseTransform, describeShift, inverseScales, planShifts, storedTransposed, subtractCentres, weightRows, type ShiftConsumer } from '../../src/quant/shift.ts';
import { dequantizeWeight } from '../../src/quant/qdq-groups.ts';
import { attr } from '../../src/onnx/graph.ts';
import { tensorDims, tensorToFloat32 } from '../../src/onnx/tensor.ts';
import { readTensorData } from '../../src/runtime/model-file.ts';
import { fractionBeyond } from './saturation.ts';

export type { CalibrationMethod };

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
  /** Centre int8 activations per channel, the offset folded into the consumer's bias (src/quant/shift.ts). */
  shift: boolean;
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

/**
 * A per-channel transform is applied where it brings the readers' expected output error to this
 * share squared of the untouched tensor's or less (at least 1.9 dB): GELU outputs, attention contexts
 * and LayerNorm outputs with offset outlier channels pass; a tensor already centred on 0 with even
 * channels keeps its form.
 */
const SHIFT_MIN_GAIN = 0.8;

/** A reader's weight form: one scale per column (else one for the tensor); symmetric int8 (zero points 0). */
async function weightForm(qdq: ModelProto, node: NodeProto): Promise<{ perColumn: boolean; symmetric: boolean }> {
  const dq = qdq.graph.node.find((n) => n.output[0] === node.input[1]);
  const find = (name: string | undefined) => (name ? qdq.graph.initializer.find((t) => t.name === name) : undefined);
  const scale = dq?.opType === 'DequantizeLinear' ? find(dq.input[1]) : undefined;
  const q = dq ? find(dq.input[0]) : undefined;
  const zp = dq ? find(dq.input[2]) : undefined;
  if (!scale || !q) return { perColumn: false, symmetric: false };
  await readTensorData(qdq, (x) => x === scale || x === zp);
  const symmetric = q.dataType === DataType.INT8 && (!zp || tensorToFloat32(zp).every((v) => v === 0));
  return { perColumn: tensorToFloat32(scale).length > 1, symmetric };
}

/**
 * A shifted tensor's readers' weights, K rows of N, as the FP32 model holds them (read one at a time
 * from its file): c·W with the float W makes the INT8 model's weight error (X − c)·ΔW instead of X·ΔW,
 * and a reader that falls back to float is exact. The dequantized int8 weight where the FP32 model
 * has no constant to match.
 */
function floatWeightReader(qdq: ModelProto, fp32: ModelProto) {
  const byOutput = new Map(fp32.graph.node.map((n) => [n.output[0]!, n]));
  const constants = new Map(fp32.graph.initializer.map((t) => [t.name ?? '', t]));
  for (const n of fp32.graph.node) if (n.opType === 'Constant' && attr(n, 'value')?.t) constants.set(n.output[0]!, attr(n, 'value')!.t!);
  const qdqInits = new Map(qdq.graph.initializer.map((t) => [t.name ?? '', t]));
  const qdqProducers = new Map(qdq.graph.node.map((n) => [n.output[0]!, n]));
  // Each reader's rows are decoded once: the transform's choice and the graph edit both read them.
  // The shifted readers' float weights are in memory until calibrate ends (about the model's size);
  // a weight read from its file keeps no second copy of its bytes.
  const decoded = new Map<NodeProto, Float32Array>();
  const values = new Map<TensorProto, Float32Array>();
  const read = async (consumer: ShiftConsumer): Promise<Float32Array> => {
    const node = consumer.node;
    const twin = byOutput.get(node.output[0]!);
    const floatTensor = twin?.opType === node.opType ? constants.get(twin.input[1]!) : undefined;
    if (floatTensor) {
      // A weight several readers share (ALBERT's layers) is decoded once too: its bytes are gone after.
      let w = values.get(floatTensor);
      if (!w) {
        const inMemory = (floatTensor.rawData?.byteLength ?? 0) > 0;
        await readTensorData(fp32, (x) => x === floatTensor);
        values.set(floatTensor, (w = tensorToFloat32(floatTensor)));
        if (!inMemory) delete (floatTensor as { rawData?: Uint8Array }).rawData;
      }
      return weightRows(w, tensorDims(floatTensor), storedTransposed(node));
    }
    const direct = qdqInits.get(node.input[1]!);
    const dq = qdqProducers.get(node.input[1]!);
    const parts = direct ? [direct] : [dq!.input[0], dq!.input[1], dq!.input[2]].filter(Boolean).map((n) => qdqInits.get(n!)!);
    await readTensorData(qdq, (x) => parts.includes(x));
    const t = direct ?? dequantizeWeight(dq!, qdqInits, 'w');
    return weightRows(tensorToFloat32(t), tensorDims(t), storedTransposed(node));
  };
  return async (consumer: ShiftConsumer): Promise<Float32Array> => {
    let w = decoded.get(consumer.node);
    if (!w) decoded.set(consumer.node, (w = await read(consumer)));
    return w;
  };
}

const calibrate: Plugin<CalibrateOptions> = {
  name: 'calibrate',
  // 1.2: Softmax/Sigmoid/Tanh outputs take their known range (src/quant/known-ranges.ts); calibration.json's rangeFrom.
  // 1.3: method auto; histogram methods bounded by the consumer's output error; Relu/Clip bounds; uint8 grids with 255 steps.
  // 1.4: shift: int8 activations centred per channel, the offset folded into the readers' biases; probabilities at 1/254.
  version: '1.4.0',
  description: 'Compute activation scales from the calibration set with onnxruntime',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      method: {
        enum: ['minmax', 'percentile', 'entropy', 'mse', 'auto'],
        default: 'percentile',
        description:
          "How each activation's range is chosen: minmax: the largest |x| seen; percentile: that percentile of |x| (clips rare outliers); entropy: the threshold whose clipped histogram is closest in KL divergence (TensorRT's entropy calibrator); mse: the threshold with the least mean squared quantization error; auto: per tensor, whichever of those four gives the consuming node's output the least squared error. The histogram methods never cut below the threshold of least error in the consuming node's output",
        examples: ['auto'],
      },
      percentile: { type: 'number', exclusiveMinimum: 50, maximum: 100, default: 99.99, description: 'the percentile of |x| kept (method: percentile)', examples: [99.9] },
      data: { type: 'string', default: 'calibration', description: 'name of the data set under `data:`' },
      tensors: { type: 'string', minLength: 1, description: 'a .npy/.npz/.tensors.jsonl file of model inputs (relative to the recipe)', examples: ['data/calib.npz'] },
      samples: { type: 'integer', minimum: 0, default: 0, description: 'use the first N samples; 0 = all (128–512 is typical)', examples: [256] },
      batchSize: { type: 'integer', minimum: 1, maximum: 1024, default: 16, description: 'samples per onnxruntime batch (memory grows with it)' },
      bins: { type: 'integer', minimum: 128, maximum: 1048576, default: 8192, description: 'histogram bins of |x| (percentile, entropy, mse, auto): more bins, finer thresholds', examples: [2048] },
      shift: {
        type: 'boolean',
        default: true,
        description:
          "Centre each int8 activation that a MatMul/Gemm reads against a weight on 0, per channel (the midpoint of each channel's calibrated range), and fold the offset into that node's bias: X·W + b = (X − c)·W + (b + c·W), exact in float, so symmetric int8 spends its levels on the channels' spread instead of their offsets (GELU outputs, LayerNorm outlier channels). Attention probabilities are centred at 0.5 (scale 1/254 instead of 1/127), P·V corrected by a ReduceSum of the dequantized V. Adds one Sub per tensor, which TensorRT fuses into the producing kernel; false keeps the plain Q/DQ form",
        examples: [false],
      },
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
    const histogramMethod = options.method !== 'minmax';
    // How much each channel matters to the nodes reading it (their weight rows): the histogram of the
    // consumer's output error that bounds every histogram method and ranks auto's candidates. Read
    // (one weight at a time) while the session is being built: its reads and row sums fill the
    // session's waits instead of following them.
    const weighing = histogramMethod ? consumerWeights(qdq, inputs.float!.path, fetches) : Promise.resolve([]);
    weighing.catch(() => undefined); // awaited below, or dropped when the session fails
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
    // Tensors whose range the producing op fixes (exact: no histogram, no threshold to choose) or bounds.
    const known = knownRanges(await floatGraph, fetches);
    const exact = (k: number) => known[k]?.kind === 'exact';
    // Which tensors are centred before they are quantized, per channel (their ranges come from a
    // second look at the data: the centres first) or by their known range's midpoint.
    const plans = options.shift ? planShifts(qdq, slots, known) : slots.map(() => undefined);
    const channelRanges = plans.map((p) => (p?.channels ? new ChannelRange(p.channels) : undefined));
    const perChannel = (k: number) => channelRanges[k] !== undefined;
    const weights = await weighing;
    const runAll = (pass: string, visit: (slot: number, data: Float32Array, dims: readonly number[]) => void, only = fetches) =>
      forEachActivation(session, batches, only, (k, t) => visit(k, t.data as Float32Array, t.dims), {
        signal: ctx.signal,
        onBatch: (done, total) => {
          meter.sample();
          ctx.emit({ type: 'progress', message: `${pass}: batch ${done}/${total}`, done, total, phase: `${pass}, ${data.samples} samples in ${total} batches` });
        },
      });

    // One pass: min/max and, for the histogram methods, |x| histograms whose range grows with the
    // data (TensorRT's way), instead of a min/max pass and then a histogram pass.
    const ranges = slots.map(() => new MinMaxCollector());
    const newHistograms = (k: number) => {
      plain[k] = histogramMethod && !exact(k) ? new GrowingAbsHistogram(options.bins) : undefined;
      weighted[k] = plain[k] && weights[k] ? new GrowingAbsHistogram(options.bins) : undefined;
    };
    const plain: (GrowingAbsHistogram | undefined)[] = [];
    const weighted: (GrowingAbsHistogram | undefined)[] = [];
    // Per-channel shifted tensors get their histograms in the second pass, of the centred values.
    slots.forEach((_, k) => (perChannel(k) ? (plain[k] = weighted[k] = undefined) : newHistograms(k)));
    const collect = (k: number, d: Float32Array, dims: readonly number[]) => {
      const absMax = ranges[k]!.add(d);
      plain[k]?.add(d, absMax);
      // A batch whose channel count is not the weights' counts every value alike (weight 1 = the mean).
      weighted[k]?.add(d, absMax, channelLayout(weights[k]!, dims) ?? { weights: new Float64Array([1]), inner: d.length || 1 });
    };
    await runAll(histogramMethod ? `min/max + histogram (${options.method})` : 'min/max', (k, d, dims) => {
      if (channelRanges[k] && !channelRanges[k].add(d, dims)) {
        // A batch whose last axis is not the weight's rows: no per-channel centre; quantized as it is.
        channelRanges[k] = undefined;
        plans[k] = undefined;
      }
      collect(k, d, dims);
    });
    // Per channel: the centre, and scales where they lower the readers' expected output error
    // (src/quant/shift.ts chooseTransform). The transform is kept where that error falls to
    // SHIFT_MIN_GAIN² of the untouched tensor's or less: elsewhere its Sub would cost a kernel for little.
    const centres: (Float32Array | number | undefined)[] = plans.map((p, k) => (p?.constant !== undefined ? p.constant : channelRanges[k]?.centres()));
    const inverses: (Float32Array | undefined)[] = slots.map(() => undefined);
    const readWeight = floatWeightReader(qdq, await floatGraph);
    const candidates = slots.map((_, k) => k).filter((k) => perChannel(k));
    for (const k of candidates) {
      const plan = plans[k]!;
      const readers = [];
      let symmetric = true;
      for (const consumer of plan.consumers) {
        const form = await weightForm(qdq, consumer.node);
        symmetric &&= form.symmetric;
        readers.push({ w: await readWeight(consumer), n: consumer.n!, perColumn: form.perColumn });
      }
      // Scaling requantizes the readers' weights as symmetric int8: only where that is their form.
      let choice = chooseTransform(channelRanges[k]!, centres[k] as Float32Array, readers, symmetric);
      // Scales that the held-out half would overrun fall back to the centres alone.
      if (choice.scales && !channelRanges[k]!.holdsOut(inverseScales(choice.scales))) choice = { ...choice, scales: undefined, alpha: undefined, error: choice.centredError };
      if (choice.error <= SHIFT_MIN_GAIN ** 2 * choice.plainError && channelRanges[k]!.holdsOut()) {
        if (choice.scales) {
          plan.scales = choice.scales;
          plan.alpha = choice.alpha;
          inverses[k] = inverseScales(choice.scales);
          // The readers' rows are multiplied by s: their error weights by s².
          const cw = weights[k];
          if (cw && cw.weights.length === choice.scales.length) {
            const scaled = cw.weights.map((v, j) => v * choice.scales![j]! ** 2);
            const mean = scaled.reduce((a, b) => a + b, 0) / scaled.length;
            weights[k] = { ...cw, weights: scaled.map((v) => v / mean) };
          }
        }
        continue;
      }
      plans[k] = undefined;
      channelRanges[k] = undefined;
      centres[k] = undefined;
    }
    const centred = channelRanges.map((r, k) => (r ? centredRange(r, centres[k] as Float32Array, inverses[k]) : undefined));
    if (histogramMethod && candidates.length) {
      // The histogram methods need the centred values' histograms (and the tensors left as they are,
      // their own): a second pass over the data for those tensors only. minmax takes the centred range
      // from the channels' ranges.
      let buffer = new Float32Array(1 << 16);
      candidates.forEach((k) => ((ranges[k] = new MinMaxCollector()), newHistograms(k)));
      await runAll(`centred histograms (${candidates.length} tensors)`, (i, d, dims) => {
        const k = candidates[i]!;
        if (centres[k] === undefined) return collect(k, d, dims);
        if (buffer.length < d.length) buffer = new Float32Array(d.length);
        collect(k, subtractCentres(d, centres[k], buffer, inverses[k]), dims);
      }, candidates.map((k) => fetches[k]!));
    } else {
      for (const k of candidates) if (centres[k] !== undefined) ranges[k] = Object.assign(new MinMaxCollector(), { min: centred[k]!.min, max: centred[k]!.max, count: ranges[k]!.count });
    }
    await session.release();
    const peakRssDeltaMiB = meter.stop();

    const methodName = (m: CandidateMethod) => (m === 'percentile' ? `percentile ${options.percentile}` : m);
    const chosen = slots.map((s, k) => {
      const r = ranges[k]!;
      const rule = known[k];
      // A known exact range replaces the observed one whatever the method: int8 gets
      // T = max(|min|, |max|) (1/127 for [0, 1]), uint8 the exact [min, max] (1/255, zero point 0).
      // A shifted one takes the range less its centre ([0, 1] → [−0.5, 0.5]: 1/254).
      if (rule?.kind === 'exact') {
        const c = plans[k]?.constant ?? 0;
        const extra: Record<string, unknown> = { saturated: 0, ...(plans[k] ? describeShift(plans[k], c) : {}) };
        return { min: rule.min - c, max: rule.max - c, threshold: Math.max(Math.abs(rule.min - c), Math.abs(rule.max - c)), rangeFrom: rule.rule, extra };
      }
      // Bounds cap the observed range (values cannot lie beyond them; this guards the range against
      // a graph that does not say what it does, and names the bound in calibration.json). A centred
      // tensor's bounds moved with each channel: its own range is all there is.
      const bounded = rule && !perChannel(k);
      const min = Math.max(r.min, bounded ? rule.min : -Infinity);
      const max = Math.min(r.max, bounded ? rule.max : Infinity);
      const ref = Math.max(Math.abs(min), Math.abs(max), 0);
      const grid: Grid = s.zeroPointType === DataType.INT8 ? INT8_GRID : { type: 'uint8', min, max };
      const h = plain[k]?.toHistogram();
      const hists: TensorHistograms | undefined = h ? { plain: h, weighted: weighted[k]?.toHistogram() ?? h } : undefined;
      const c = chooseThreshold(options.method, hists, Number.isFinite(ref) ? ref : r.absMax, grid, { percentile: options.percentile });
      const extra: Record<string, unknown> = { saturated: h ? fractionBeyond(h, c.threshold) : 0 };
      if (bounded) extra.bound = rule.rule;
      if (plans[k] && centres[k] !== undefined) Object.assign(extra, describeShift(plans[k], centres[k]));
      if (weights[k]) extra.consumers = weights[k]!.consumers;
      if (c.raisedFrom !== undefined) extra.raisedFrom = c.raisedFrom;
      if (c.divergence !== undefined) extra.divergence = c.divergence;
      if (c.mse !== undefined) Object.assign(extra, { mse: c.mse, minmaxMse: c.minmaxMse });
      if (c.candidates) extra.candidates = c.candidates;
      const rangeFrom = options.method === 'auto' ? `auto: ${methodName(c.method)}` : options.method === 'minmax' ? 'minmax' : methodName(c.method);
      return { min, max, threshold: c.threshold, rangeFrom, extra, method: c.method };
    });
    const params = applyActivationScales(qdq, slots, chosen);
    // The centres go into the graph: a Sub before each shifted tensor's QuantizeLinear nodes, c·W into
    // its readers' biases, a ReduceSum correction after a shifted P·V.
    const shifted = await applyShifts(
      qdq,
      slots,
      plans,
      centres,
      readWeight,
      async (t) => {
        await readTensorData(qdq, (x) => x === t);
        return tensorToFloat32(t);
      },
      channelRanges.map((r) => r?.means()),
    );
    // A Concat's input pairs take its output's scale, so TensorRT keeps it in int8 (src/quant/cnn-placement.ts).
    const concats = shareConcatScales(qdq);
    if (concats.length) ctx.emit({ type: 'log', level: 'info', message: `${concats.length} Concat(s): inputs share the output's scale` });
    const stats = slots.map((s, k) => {
      const r = ranges[k]!;
      const c = chosen[k]!;
      // A known bound can lie beyond the largest value seen: nothing is cut then (not a negative cut).
      const clipped = r.absMax > 0 ? Math.max(0, 1 - c.threshold / r.absMax) : 0;
      return { tensor: s.tensor, min: r.min, max: r.max, threshold: c.threshold, rangeFrom: c.rangeFrom, clipped, scale: Math.fround(params[k]!.scale), zeroPoint: params[k]!.zeroPoint, ...c.extra };
    });
    // auto: how many tensors each candidate won (known exact ranges are not counted).
    const autoChoices: Record<string, number> = {};
    if (options.method === 'auto') chosen.forEach((c) => c.method && (autoChoices[c.method] = (autoChoices[c.method] ?? 0) + 1));
    const raised = chosen.filter((c) => c.extra.raisedFrom !== undefined).length;
    await writeModelFile(qdq, join(ctx.outDir, 'model.onnx'));
    await writeFile(join(ctx.outDir, 'calibration.json'), JSON.stringify({ method: options.method, percentile: options.method === 'percentile' || options.method === 'auto' ? options.percentile : undefined, samples: data.samples, batches: batches.length, tensors: stats }, null, 1));
    const clipped = stats.map((s) => s.clipped as number);
    return {
      metrics: {
        method: options.method === 'percentile' ? `percentile ${options.percentile}` : options.method === 'auto' ? `auto (percentile candidate ${options.percentile})` : options.method,
        ...(options.method === 'auto' ? { autoChoices } : {}),
        ...(histogramMethod ? { raisedByConsumerError: raised } : {}),
        shiftedTensors: shifted.tensors,
        scaledTensors: shifted.scaled,
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
