// calibrate — runs the calibration set through onnxruntime-node on the FP32 model with every
// quantized activation added as a graph output, collects streaming statistics, and writes the
// activation scales (and zero points) into the QDQ model's QuantizeLinear/DequantizeLinear inputs.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type ort from 'onnxruntime-node';
import { errors } from '../../src/errors.ts';
import type { Plugin } from '../../src/engine/plugin.ts';
import { readTokenizedDataset } from '../../src/data/tokenized-dataset.ts';
import { encodeModel, readModel } from '../../src/onnx/model-io.ts';
import { makeFloatTensor, makeInt8Tensor, makeUint8Tensor } from '../../src/onnx/tensor.ts';
import { DataType, type ModelProto } from '../../src/onnx/types.ts';
import { AbsHistogram, MinMaxCollector } from '../../src/quant/range-collector.ts';
import { asymmetricUint8, symmetricScale } from '../../src/quant/scale-math.ts';
import { batchesByLength, encoderFeeds, graphInputs } from '../../src/runtime/feeds.ts';
import { createSession, ORT_VERSION } from '../../src/runtime/session.ts';

export interface CalibrateOptions {
  method: 'minmax' | 'percentile';
  percentile: number;
  data: string;
  /** Use at most this many samples (the first N); 0 = all. */
  samples: number;
  batchSize: number;
  bins: number;
}

interface ActivationSlot {
  tensor: string;
  /** Every (scale, zero point) initializer pair that quantizes this tensor (one per consumer). */
  params: { scale: string; zeroPoint: string }[];
  zeroPointType: number;
}

/** The activations a QDQ model quantizes: QuantizeLinear nodes fed by a non-constant tensor. */
export function findActivationSlots(model: ModelProto): ActivationSlot[] {
  const inits = new Map(model.graph.initializer.map((t) => [t.name ?? '', t]));
  const slots = new Map<string, ActivationSlot>();
  for (const n of model.graph.node) {
    if (n.opType !== 'QuantizeLinear' || inits.has(n.input[0]!)) continue;
    const zp = inits.get(n.input[2] ?? '');
    let slot = slots.get(n.input[0]!);
    if (!slot) {
      slot = { tensor: n.input[0]!, params: [], zeroPointType: zp?.dataType ?? DataType.UINT8 };
      slots.set(slot.tensor, slot);
    }
    if (!slot.params.some((p) => p.scale === n.input[1])) slot.params.push({ scale: n.input[1]!, zeroPoint: n.input[2] ?? '' });
  }
  return [...slots.values()];
}

const calibrate: Plugin<CalibrateOptions> = {
  name: 'calibrate',
  version: '1.0.0',
  description: 'Compute activation scales from the calibration set with onnxruntime',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      method: { enum: ['minmax', 'percentile'], default: 'percentile' },
      percentile: { type: 'number', exclusiveMinimum: 50, maximum: 100, default: 99.99 },
      data: { type: 'string', default: 'calibration', description: 'name of the data set under `data:`' },
      samples: { type: 'integer', minimum: 0, default: 0 },
      batchSize: { type: 'integer', minimum: 1, maximum: 1024, default: 16 },
      bins: { type: 'integer', minimum: 128, maximum: 1048576, default: 8192 },
    },
  },
  inputs: {
    model: { kind: 'qdq-model', description: 'QDQ model whose activation scales are written' },
    float: { kind: 'onnx-model', description: 'the FP32 model the statistics are collected on' },
    datasets: { kind: 'dataset' },
  },
  outputs: {
    model: { kind: 'qdq-model', path: 'model.onnx' },
    stats: { kind: 'calib-stats', path: 'calibration.json' },
  },
  async fingerprint() {
    return { onnxruntime: ORT_VERSION };
  },
  async run(options, inputs, _sources, ctx) {
    const dataset = await readTokenizedDataset(inputs.datasets!.path, options.data);
    const samples = options.samples > 0 ? dataset.samples.slice(0, options.samples) : dataset.samples;
    if (samples.length === 0) throw errors.dataEmpty(`${options.data} (tokenized)`);
    const qdq = await readModel(inputs.model!.path);
    const slots = findActivationSlots(qdq);
    if (slots.length === 0) throw errors.usage('calibrate: the model has no activation QuantizeLinear nodes', 'run qdq.insert before calibrate');

    // The FP32 model with every calibrated tensor as an extra output.
    const float = await readModel(inputs.float!.path);
    const existing = new Set(float.graph.output.map((o) => o.name));
    const produced = new Set(float.graph.node.flatMap((n) => n.output));
    for (const s of slots) {
      if (!produced.has(s.tensor)) throw errors.usage(`calibrate: tensor "${s.tensor}" of the QDQ model is not in the FP32 model`, 'wire `float:` to the model qdq.insert started from');
      if (!existing.has(s.tensor)) float.graph.output.push({ name: s.tensor, type: { tensorType: { elemType: DataType.FLOAT } } });
    }
    const session = await createSession(encodeModel(float), { optimization: 'basic' });
    const inputInfos = graphInputs(float.graph.input, new Set(float.graph.initializer.map((t) => t.name ?? '')));
    const batches = batchesByLength(samples.map((s) => s.ids.length), options.batchSize);
    const fetches = slots.map((s) => s.tensor);

    const runAll = async (pass: string, visit: (slot: number, data: Float32Array) => void) => {
      for (let b = 0; b < batches.length; b++) {
        if (ctx.signal.aborted) throw new Error('interrupted');
        const rows = batches[b]!.map((i) => samples[i]!.ids);
        const out: ort.InferenceSession.ReturnType = await session.run(encoderFeeds(inputInfos, rows, dataset.padId), fetches);
        fetches.forEach((name, k) => visit(k, out[name]!.data as Float32Array));
        for (const t of Object.values(out)) t.dispose?.();
        ctx.emit({ type: 'progress', message: `${pass}: batch ${b + 1}/${batches.length}`, done: b + 1, total: batches.length });
      }
    };

    const ranges = slots.map(() => new MinMaxCollector());
    await runAll('min/max', (k, data) => ranges[k]!.add(data));
    let thresholds = ranges.map((r) => r.absMax);
    if (options.method === 'percentile') {
      const hists = ranges.map((r) => new AbsHistogram(r.absMax, options.bins));
      await runAll(`histogram (p${options.percentile})`, (k, data) => hists[k]!.add(data));
      thresholds = hists.map((h) => h.percentile(options.percentile));
    }
    await session.release();

    const inits = new Map(qdq.graph.initializer.map((t, i) => [t.name ?? '', i]));
    const stats: Record<string, unknown>[] = [];
    slots.forEach((s, k) => {
      const r = ranges[k]!;
      const t = thresholds[k]!;
      let scale: number;
      let zp = 0;
      if (s.zeroPointType === DataType.INT8) scale = symmetricScale(t);
      else ({ scale, zeroPoint: zp } = asymmetricUint8(Math.max(r.min, -t), Math.min(r.max, t)));
      for (const p of s.params) {
        qdq.graph.initializer[inits.get(p.scale)!] = makeFloatTensor(p.scale, [], Float32Array.of(scale));
        if (p.zeroPoint) {
          qdq.graph.initializer[inits.get(p.zeroPoint)!] =
            s.zeroPointType === DataType.INT8 ? makeInt8Tensor(p.zeroPoint, [], Int8Array.of(zp)) : makeUint8Tensor(p.zeroPoint, [], Uint8Array.of(zp));
        }
      }
      stats.push({ tensor: s.tensor, min: r.min, max: r.max, threshold: t, clipped: r.absMax > 0 ? 1 - t / r.absMax : 0, scale: Math.fround(scale), zeroPoint: zp });
    });
    await writeFile(join(ctx.outDir, 'model.onnx'), encodeModel(qdq));
    await writeFile(join(ctx.outDir, 'calibration.json'), JSON.stringify({ method: options.method, percentile: options.method === 'percentile' ? options.percentile : undefined, samples: samples.length, batches: batches.length, tensors: stats }, null, 1));
    const clipped = stats.map((s) => s.clipped as number);
    return {
      metrics: {
        method: options.method === 'percentile' ? `percentile ${options.percentile}` : 'minmax',
        samples: samples.length,
        batches: batches.length,
        tensors: slots.length,
        meanClippedRange: clipped.reduce((a, b) => a + b, 0) / Math.max(1, clipped.length),
      },
    };
  },
};

export default calibrate;
