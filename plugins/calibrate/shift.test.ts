// calibrate's activation shift (src/quant/shift.ts), through the plugin and onnxruntime, on a small
// attention block whose "LayerNorm output" h has an outlier channel sitting at −6 ± 0.3 (BERT's
// outlier dimensions) and whose other channels are centred on 0 with spread 1:
//   q, k, v = h·W + b;  P = Softmax(q·kᵀ/4 + mask);  ctx = P·v;  f = Relu(h·W1 + b1)·W2 (no bias);
//   y = ctx + f;  z = Gemm(mean(h), Wg, transB = 1, no C) (a graph output, Wg square).
// Shifting must be exact in float (every node fallen back to float gives FP32's outputs: the offsets
// folded into the biases, the added Add, the Gemm's new C and the P·V correction all cancel), must
// centre the probabilities at 0.5 (scale 1/254), and must cut the INT8 error.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { artifact, stepContext, withDefaults } from '../../tests/helpers/step-context.ts';
import { seededRandom, useTempDir } from '../../tests/helpers/temp.ts';
import { intAttr, model, node, runBytes, valueInfo } from '../../tests/helpers/onnx-build.ts';
import { encodeModel } from '../../src/onnx/model-io.ts';
import { makeFloatTensor } from '../../src/onnx/tensor.ts';
import { DataType } from '../../src/onnx/types.ts';
import { readModelWithData } from '../../src/runtime/model-file.ts';
import { placeQdqForTensorRT } from '../../src/quant/place-qdq.ts';
import { findQuantizedNodes, keepOnlyQuantized } from '../../src/quant/qdq-groups.ts';
import { ChannelRange, subtractCentres } from '../../src/quant/shift.ts';
import calibrate from './index.ts';

const root = useTempDir();
const C = 16;
const S = 8;
const OUTLIER = 3;
const rand = seededRandom(17);
const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
let fp32: string;
let data: string;
const qdq: Record<'int8' | 'uint8', string> = { int8: '', uint8: '' };
const samples: { x: Float32Array; mask: Float32Array }[] = [];

function weight(name: string, dims: number[], scale = 0.3) {
  return makeFloatTensor(name, dims, Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => gauss() * scale));
}

beforeAll(async () => {
  const m = model({
    nodes: [
      node('Mul', ['x', 'gain'], ['hg'], 'ln_gain'),
      node('Add', ['hg', 'beta'], ['h'], 'ln_beta'),
      ...['q', 'k', 'v'].flatMap((p) => [node('MatMul', ['h', `W${p}`], [`${p}_mm`], `${p}/MatMul`), node('Add', [`${p}_mm`, `b${p}`], [p], `${p}/Add`)]),
      node('Transpose', ['k'], ['kt'], 'k/Transpose', [{ name: 'perm', type: 7, ints: [0, 2, 1] }]),
      node('MatMul', ['q', 'kt'], ['scores'], 'attention/MatMul'),
      node('Mul', ['scores', 'temperature'], ['scaled'], 'attention/scale'),
      node('Add', ['scaled', 'mask'], ['masked'], 'attention/mask'),
      node('Softmax', ['masked'], ['probs'], 'attention/Softmax', [intAttr('axis', -1)]),
      node('MatMul', ['probs', 'v'], ['ctx'], 'attention/MatMul_1'),
      node('MatMul', ['h', 'W1'], ['u_mm'], 'ffn/MatMul'),
      node('Add', ['u_mm', 'b1'], ['u'], 'ffn/Add'),
      node('Relu', ['u'], ['act'], 'ffn/Relu'),
      node('MatMul', ['act', 'W2'], ['f'], 'ffn/MatMul_1'),
      node('Add', ['ctx', 'f'], ['y'], 'residual'),
      node('ReduceMean', ['h'], ['pooled'], 'pool', [{ name: 'axes', type: 7, ints: [1] }, intAttr('keepdims', 0)]),
      node('Gemm', ['pooled', 'Wg'], ['z'], 'head/Gemm', [intAttr('transB', 1)]),
    ],
    inputs: [valueInfo('x', DataType.FLOAT, ['batch', S, C]), valueInfo('mask', DataType.FLOAT, ['batch', 1, S])],
    outputs: [valueInfo('y', DataType.FLOAT, ['batch', S, C]), valueInfo('z', DataType.FLOAT, ['batch', C])],
    initializers: [
      makeFloatTensor('gain', [C], Float32Array.from({ length: C }, (_, j) => (j === OUTLIER ? 0.3 : 1))),
      makeFloatTensor('beta', [C], Float32Array.from({ length: C }, (_, j) => (j === OUTLIER ? -6 : 0.1 * gauss()))),
      makeFloatTensor('temperature', [], Float32Array.of(1 / Math.sqrt(C))),
      ...['q', 'k', 'v'].flatMap((p) => [weight(`W${p}`, [C, C]), weight(`b${p}`, [C], 0.1)]),
      weight('W1', [C, 2 * C]),
      weight('b1', [2 * C], 0.1),
      weight('W2', [2 * C, C]),
      // Square, so only transB (not the dims) says the stored weight is [N, K].
      weight('Wg', [C, C]),
    ],
  });
  fp32 = join(root, 'block.onnx');
  writeFileSync(fp32, encodeModel(m));
  for (const activations of ['int8', 'uint8'] as const) {
    const q = structuredClone(m);
    placeQdqForTensorRT(q, { ops: ['MatMul', 'Gemm'], excludeOps: [], excludeNodes: [], activations, weights: 'per-channel', attentionMatMuls: true });
    qdq[activations] = join(root, `block-qdq-${activations}.onnx`);
    writeFileSync(qdq[activations], encodeModel(q));
  }
  // 64 samples; the last 3 keys of every other one are padding (mask −10000: probability 0).
  const lines: string[] = [];
  for (let i = 0; i < 64; i++) {
    const x = Float32Array.from({ length: S * C }, () => gauss());
    const mask = Float32Array.from({ length: S }, (_, s) => (i % 2 === 1 && s >= S - 3 ? -10000 : 0));
    samples.push({ x, mask });
    lines.push(JSON.stringify({ x: Array.from({ length: S }, (_, s) => Array.from(x.subarray(s * C, (s + 1) * C))), mask: [Array.from(mask)] }));
  }
  data = join(root, 'block.tensors.jsonl');
  writeFileSync(data, lines.join('\n') + '\n');
});

async function outputs(bytes: Uint8Array): Promise<{ y: Float32Array; z: Float32Array }> {
  const n = samples.length;
  const x = new Float32Array(n * S * C);
  const mask = new Float32Array(n * S);
  samples.forEach((s, i) => (x.set(s.x, i * S * C), mask.set(s.mask, i * S)));
  const out = await runBytes(bytes, { x: new ort.Tensor('float32', x, [n, S, C]), mask: new ort.Tensor('float32', mask, [n, 1, S]) });
  return { y: out.y!.data as Float32Array, z: out.z!.data as Float32Array };
}

function sqnrDb(ref: Float32Array, got: Float32Array): number {
  let s = 0;
  let e = 0;
  for (let i = 0; i < ref.length; i++) (s += ref[i]! ** 2), (e += (ref[i]! - got[i]!) ** 2);
  return 10 * Math.log10(s / e);
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

async function calibrated(method: string, shift: boolean, activations: 'int8' | 'uint8' = 'int8') {
  const ctx = stepContext(root, `calibrate-${method}-${shift}-${activations}`);
  const result = await calibrate.run(withDefaults(calibrate, { method, shift, tensors: data }), { model: artifact('qdq-model', qdq[activations]), float: artifact('onnx-model', fp32) }, { tensors: data }, ctx);
  const stats = JSON.parse(readFileSync(join(ctx.outDir, 'calibration.json'), 'utf8')) as { tensors: Record<string, unknown>[] };
  return { model: await readModelWithData(join(ctx.outDir, 'model.onnx')), stats, metrics: (result as { metrics: Record<string, unknown> }).metrics };
}

describe('calibrate shift: int8 activations centred, offsets folded into float', () => {
  it.each(['minmax', 'mse'])('%s: with every node fallen back to float the shifted model gives the FP32 outputs (the folds are exact)', async (method) => {
    const { model: m, metrics } = await calibrated(method, true);
    // h (read by q, k, v, the FFN and, through the mean, the Gemm: per channel), the probabilities (0.5),
    // ctx is read by nothing quantized, act (per channel), pooled (per channel).
    expect(metrics.shiftedTensors).toBe(4);
    // The Relu output's channels differ in spread: it is scaled too (its reader's weight rows times s).
    expect(metrics.scaledTensors).toBeGreaterThanOrEqual(1);
    expect(m.graph.node.filter((n) => n.opType === 'Sub')).toHaveLength(4);
    expect(m.graph.node.filter((n) => n.opType === 'ReduceSum')).toHaveLength(1);
    // The correction is not a layer of its own: sensitivity lists the same nodes with and without shift.
    const plain = await calibrated(method, false);
    expect(findQuantizedNodes(m).map((n) => n.name)).toEqual(findQuantizedNodes(plain.model).map((n) => n.name));
    const ref = await outputs(readFileSync(fp32));
    const float = await outputs(encodeModel(keepOnlyQuantized(m, new Set(), await readModelWithData(fp32))));
    expect(maxAbsDiff(ref.y, float.y)).toBeLessThan(2e-5);
    expect(maxAbsDiff(ref.z, float.z)).toBeLessThan(2e-5);
    // Only the attention P·V in float: its correction sums the float V it now reads.
    const all = new Set(findQuantizedNodes(m).map((n) => n.name));
    all.delete('attention/MatMul_1');
    const partial = keepOnlyQuantized(m, all, await readModelWithData(fp32));
    const reduce = partial.graph.node.find((n) => n.opType === 'ReduceSum')!;
    expect(reduce.input[0]).toBe('v');
  });

  it('the probabilities are centred at 0.5 (scale 1/254), the outlier channel at its own midpoint', async () => {
    const { stats } = await calibrated('entropy', true);
    const probs = stats.tensors.find((t) => t.tensor === 'probs')!;
    expect(probs).toMatchObject({ threshold: 0.5, scale: Math.fround(0.5 / 127), zeroPoint: 0, shift: 0.5, rangeFrom: 'softmax [0, 1]' });
    const h = stats.tensors.find((t) => t.tensor === 'h')!;
    expect(h.shift).toBe(`per channel (${C})`);
    // Unshifted, h's range is set by the outlier channel at about −6 − 4·0.3; centred, by the spread of the others (about ±4).
    const plainH = (await calibrated('minmax', false)).stats.tensors.find((t) => t.tensor === 'h')!;
    const shiftedH = (await calibrated('minmax', true)).stats.tensors.find((t) => t.tensor === 'h')!;
    expect(Math.abs(plainH.min as number)).toBeGreaterThan(6.5);
    expect(shiftedH.threshold as number).toBeLessThan(0.75 * (plainH.threshold as number));
  });

  it.each(['minmax', 'percentile', 'entropy', 'mse', 'auto'])('%s: the INT8 outputs are closer to FP32 with the shift than without', async (method) => {
    const ref = await outputs(readFileSync(fp32));
    const shifted = await outputs(encodeModel((await calibrated(method, true)).model));
    const plain = await outputs(encodeModel((await calibrated(method, false)).model));
    expect(sqnrDb(ref.y, shifted.y)).toBeGreaterThan(sqnrDb(ref.y, plain.y) + 1.5);
    expect(sqnrDb(ref.z, shifted.z)).toBeGreaterThan(sqnrDb(ref.z, plain.z) + 6);
  });

  it('uint8 activations have their zero point: nothing is shifted', async () => {
    const { model: m, metrics } = await calibrated('minmax', true, 'uint8');
    expect(metrics.shiftedTensors).toBe(0);
    expect(m.graph.node.some((n) => n.opType === 'Sub' || n.opType === 'ReduceSum')).toBe(false);
  });
});

describe('ChannelRange and subtractCentres', () => {
  it('centres each channel of the last axis on its midpoint, skipping NaN', () => {
    const r = new ChannelRange(2);
    expect(r.add(Float32Array.of(1, -5, 3, -7, NaN, -6), [3, 2])).toBe(true);
    expect(r.add(Float32Array.of(1, 2, 3), [3])).toBe(false);
    const c = r.centres();
    expect(Array.from(c)).toEqual([2, -6]);
    expect(Array.from(subtractCentres(Float32Array.of(1, -5, 3, -7), c, new Float32Array(2)))).toEqual([-1, 1, 1, -1]);
    expect(Array.from(subtractCentres(Float32Array.of(0, 1), 0.5, new Float32Array(8)))).toEqual([-0.5, 0.5]);
  });
});

describe('calibrate shift: a weight two shifted tensors share (ALBERT), large enough to stay in its file', () => {
  // W is 160×128 float32 (80 KiB): readModelGraph leaves it in the file, so its bytes are read once
  // and dropped; the second reader must get the decoded values, not a tensor with no data.
  it('both readers are shifted, and with every node in float the model gives FP32 outputs', async () => {
    const K = 160;
    const M = 128;
    const T = 4;
    const m = model({
      nodes: [
        node('Mul', ['x', 'gain2'], ['xg'], 'gain'),
        node('Add', ['xg', 'beta2'], ['h1'], 'beta'),
        node('Add', ['xg', 'beta3'], ['h2'], 'beta3'),
        // Graph outputs behind a bias Add: a bias-less reader whose output is a graph output is not shifted.
        node('MatMul', ['h1', 'Ws'], ['a_mm'], 'a/MatMul'),
        node('Add', ['a_mm', 'bs'], ['y1'], 'a/Add'),
        node('MatMul', ['h2', 'Ws'], ['b_mm'], 'b/MatMul'),
        node('Add', ['b_mm', 'bs'], ['y2'], 'b/Add'),
      ],
      inputs: [valueInfo('x', DataType.FLOAT, ['batch', T, K])],
      outputs: [valueInfo('y1', DataType.FLOAT, ['batch', T, M]), valueInfo('y2', DataType.FLOAT, ['batch', T, M])],
      initializers: [
        // h1: every channel at −5 ± 1, h2 at +4 ± 1 (centring narrows their ranges four- to six-fold).
        makeFloatTensor('gain2', [K], new Float32Array(K).fill(0.3)),
        makeFloatTensor('beta2', [K], new Float32Array(K).fill(-5)),
        makeFloatTensor('beta3', [K], new Float32Array(K).fill(4)),
        weight('Ws', [K, M], 0.1),
        weight('bs', [M], 0.1),
      ],
    });
    const file = join(root, 'shared.onnx');
    writeFileSync(file, encodeModel(m));
    const q = structuredClone(m);
    placeQdqForTensorRT(q, { ops: ['MatMul'], excludeOps: [], excludeNodes: [], activations: 'int8', weights: 'per-channel', attentionMatMuls: true });
    const qFile = join(root, 'shared-qdq.onnx');
    writeFileSync(qFile, encodeModel(q));
    const xs = Array.from({ length: 32 }, () => Float32Array.from({ length: T * K }, () => gauss()));
    const tensors = join(root, 'shared.tensors.jsonl');
    writeFileSync(tensors, xs.map((x) => JSON.stringify({ x: Array.from({ length: T }, (_, t) => Array.from(x.subarray(t * K, (t + 1) * K))) })).join('\n') + '\n');
    const ctx = stepContext(root, 'calibrate-shared');
    const r = (await calibrate.run(withDefaults(calibrate, { method: 'minmax', tensors }), { model: artifact('qdq-model', qFile), float: artifact('onnx-model', file) }, { tensors }, ctx)) as { metrics: Record<string, unknown> };
    expect(r.metrics.shiftedTensors).toBe(2);
    const qdqOut = await readModelWithData(join(ctx.outDir, 'model.onnx'));
    const feeds = { x: new ort.Tensor('float32', Float32Array.from(xs.flatMap((x) => Array.from(x))), [32, T, K]) };
    const ref = await runBytes(encodeModel(m), feeds);
    const float = await runBytes(encodeModel(keepOnlyQuantized(qdqOut, new Set(), await readModelWithData(file))), feeds);
    for (const y of ['y1', 'y2']) expect(maxAbsDiff(ref[y]!.data as Float32Array, float[y]!.data as Float32Array)).toBeLessThan(1e-4);
  });
});

