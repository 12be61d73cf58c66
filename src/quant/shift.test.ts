// The shift's bias fold on one MatMul + bias, through onnxruntime: a GELU-like tensor whose bulk sits
// near 0 with a tail to 8 is centred at its channels' midpoints (about 4). With the fold c·W (float
// W) the int8 weight's rounding error reaches every token as (X − c)·ΔW, about −4·ΔW where X ≈ 0;
// with c·W_q + μ·(W − W_q) (the channel means given) it is (X − μ)·ΔW, centred on the data. The mean
// output error over the tokens must shrink with the means, and chooseTransform must see it.
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { intAttr, model, node, runBytes, valueInfo } from '../../tests/helpers/onnx-build.ts';
import { seededRandom } from '../../tests/helpers/temp.ts';
import { encodeModel } from '../onnx/model-io.ts';
import { makeFloatTensor, tensorToFloat32 } from '../onnx/tensor.ts';
import { DataType } from '../onnx/types.ts';
import { applyActivationScales, findActivationSlots } from './activation-scales.ts';
import { placeQdqForTensorRT } from './place-qdq.ts';
import { keepOnlyQuantized } from './qdq-groups.ts';
import { applyShifts, centredRange, ChannelRange, chooseTransform, planShifts } from './shift.ts';

const K = 32;
const N = 16;
const T = 400;
const rand = seededRandom(3);
const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());

function build() {
  const w = Float32Array.from({ length: K * N }, () => gauss() * 0.2);
  const b = Float32Array.from({ length: N }, () => gauss() * 0.1);
  const fp32 = model({
    nodes: [node('MatMul', ['x', 'W'], ['mm'], 'fc/MatMul'), node('Add', ['mm', 'b'], ['y'], 'fc/Add')],
    inputs: [valueInfo('x', DataType.FLOAT, ['tokens', K])],
    outputs: [valueInfo('y', DataType.FLOAT, ['tokens', N])],
    initializers: [makeFloatTensor('W', [K, N], w), makeFloatTensor('b', [N], b)],
  });
  // 95% of the values in [−0.17, 0.1], the rest up to 8: GELU's shape.
  const x = Float32Array.from({ length: T * K }, () => (rand() < 0.95 ? -0.17 + 0.27 * rand() : 8 * rand()));
  return { fp32, w, x };
}

async function meanAbsBias(withMeans: boolean): Promise<{ bias: number; rms: number }> {
  const { fp32, w, x } = build();
  const qdq = structuredClone(fp32);
  placeQdqForTensorRT(qdq, { ops: ['MatMul'], excludeOps: [], excludeNodes: [], activations: 'int8', weights: 'per-channel', attentionMatMuls: true });
  const slots = findActivationSlots(qdq);
  const plans = planShifts(qdq, slots, [undefined]);
  expect(plans[0]?.channels).toBe(K);
  const range = new ChannelRange(K);
  range.add(x, [T, K]);
  const centres = range.centres();
  const c = centredRange(range, centres);
  applyActivationScales(qdq, slots, [{ min: c.min, max: c.max, threshold: Math.max(-c.min, c.max) }]);
  const inits = new Map(qdq.graph.initializer.map((t) => [t.name ?? '', t]));
  await applyShifts(qdq, slots, plans, [centres], async () => w, async (t) => tensorToFloat32(inits.get(t.name ?? '') ?? t), withMeans ? [range.means()] : []);
  const feeds = { x: new ort.Tensor('float32', x, [T, K]) };
  const ref = (await runBytes(encodeModel(fp32), feeds)).y!.data as Float32Array;
  const got = (await runBytes(encodeModel(qdq), feeds)).y!.data as Float32Array;
  // Per output column, the error's mean over the tokens (what a bias can fix), then averaged over columns.
  let bias = 0;
  let sq = 0;
  for (let n = 0; n < N; n++) {
    let m = 0;
    for (let t = 0; t < T; t++) {
      const e = got[t * N + n]! - ref[t * N + n]!;
      m += e;
      sq += e * e;
    }
    bias += Math.abs(m / T);
  }
  return { bias: bias / N, rms: Math.sqrt(sq / (T * N)) };
}

describe('shift: the readers’ bias fold', () => {
  it('with the channel means the int8 weight error is centred on the data: its mean over the tokens shrinks', async () => {
    const plain = await meanAbsBias(false);
    const corrected = await meanAbsBias(true);
    expect(corrected.bias).toBeLessThan(0.5 * plain.bias);
    expect(corrected.rms).toBeLessThan(plain.rms);
  });

  it('chooseTransform: centring a GELU-like tensor lowers the readers’ expected error; a centred Gaussian is left as it is', () => {
    const { w, x } = build();
    const skewed = new ChannelRange(K);
    skewed.add(x, [T, K]);
    const a = chooseTransform(skewed, skewed.centres(), [{ w, n: N, perColumn: true }]);
    expect(a.error).toBeLessThan(0.5 * a.plainError);
    const symmetric = new ChannelRange(K);
    symmetric.add(Float32Array.from({ length: T * K }, () => gauss()), [T, K]);
    const b = chooseTransform(symmetric, symmetric.centres(), [{ w, n: N, perColumn: true }]);
    expect(b.error).toBeGreaterThan(0.64 * b.plainError);
  });

  it('holdsOut: a centre from half the samples must cover the other half; a channel whose level moves between samples fails', () => {
    // 2 channels: channel 0 centred on 0 (spread 1), channel 1 near 3 ± 0.1 in every sample: stable.
    const stable = new ChannelRange(2);
    for (let s = 0; s < 64; s++) stable.add(Float32Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? gauss() : 3 + 0.1 * gauss())), [1, 8, 2]);
    expect(stable.holdsOut()).toBe(true);
    // Channel 1's level depends on the sample (3 in some, 0 in others; a handful of images): a centre
    // fixed at one half's level leaves the other's values far outside.
    const moving = new ChannelRange(2);
    for (let s = 0; s < 8; s++) {
      const level = rand() < 0.5 ? 3 : 0;
      moving.add(Float32Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? 0.1 * gauss() : level + 0.1 * gauss())), [1, 8, 2]);
    }
    expect(moving.holdsOut()).toBe(false);
  });
});

describe('shift: Gemm readers with α and β', () => {
  // Gemm computes α·A·B + β·C: a shifted A needs α/β·c·B in C (α·c·B where the shift writes C, or adds
  // an Add after a Gemm whose β is 0), in the INT8 graph and in the float bias a fallen-back reader
  // gets (src/quant/qdq-groups.ts). Three Gemms read x (offset channels, transB): with C, α 0.5 β 2;
  // without C, α 0.5; with C but β 0 (its C ignored), α 0.5.
  it('the INT8 graph honours α and β, and every node fallen back to float gives the FP32 outputs', async () => {
    const k = 8;
    const n = 4;
    const rows = 64;
    const f = (name: string, value: number) => ({ name, type: 1, f: value });
    const w = (name: string) => makeFloatTensor(name, [n, k], Float32Array.from({ length: n * k }, () => gauss() * 0.3));
    const weights = [w('W1'), w('W2'), w('W3')];
    const fp32 = model({
      nodes: [
        node('Gemm', ['x', 'W1', 'C1'], ['y1'], 'g1/Gemm', [intAttr('transB', 1), f('alpha', 0.5), f('beta', 2)]),
        node('Gemm', ['x', 'W2'], ['y2'], 'g2/Gemm', [intAttr('transB', 1), f('alpha', 0.5)]),
        node('Gemm', ['x', 'W3', 'C3'], ['g3'], 'g3/Gemm', [intAttr('transB', 1), f('alpha', 0.5), f('beta', 0)]),
        node('Identity', ['g3'], ['y3'], 'g3/Identity'),
      ],
      inputs: [valueInfo('x', DataType.FLOAT, ['rows', k])],
      outputs: ['y1', 'y2', 'y3'].map((y) => valueInfo(y, DataType.FLOAT, ['rows', n])),
      initializers: [...weights, makeFloatTensor('C1', [n], Float32Array.from({ length: n }, () => gauss())), makeFloatTensor('C3', [n], Float32Array.from({ length: n }, () => gauss()))],
    });
    // Channels offset by 3·j: centring matters.
    const x = Float32Array.from({ length: rows * k }, (_, i) => 3 * (i % k) + gauss());
    const qdq = structuredClone(fp32);
    placeQdqForTensorRT(qdq, { ops: ['Gemm'], excludeOps: [], excludeNodes: [], activations: 'int8', weights: 'per-channel', attentionMatMuls: true });
    const slots = findActivationSlots(qdq);
    const plans = planShifts(qdq, slots, slots.map(() => undefined));
    expect(plans.every((p) => p?.channels === k)).toBe(true);
    const range = new ChannelRange(k);
    range.add(x, [rows, k]);
    const centres = range.centres();
    const c = centredRange(range, centres);
    applyActivationScales(qdq, slots, slots.map(() => ({ min: c.min, max: c.max, threshold: Math.max(-c.min, c.max) })));
    const inits = new Map(qdq.graph.initializer.map((t) => [t.name ?? '', t]));
    // K rows of N: each reader's [N, K] weight transposed.
    const readWeight = async (consumer: { node: { input: string[] } }) => {
      const stored = tensorToFloat32(weights[Number(consumer.node.input[1]!.match(/W(\d)/)![1]) - 1]!);
      return Float32Array.from({ length: k * n }, (_, i) => stored[(i % n) * k + Math.floor(i / n)]!);
    };
    await applyShifts(qdq, slots, plans, slots.map(() => centres), readWeight, async (t) => tensorToFloat32(inits.get(t.name ?? '') ?? t), slots.map(() => range.means()));
    const feeds = { x: new ort.Tensor('float32', x, [rows, k]) };
    const ref = await runBytes(encodeModel(fp32), feeds);
    const int8 = await runBytes(encodeModel(qdq), feeds);
    const float = await runBytes(encodeModel(keepOnlyQuantized(qdq, new Set(), fp32)), feeds);
    for (const y of ['y1', 'y2', 'y3']) {
      const r = ref[y]!.data as Float32Array;
      const err = (got: Float32Array) => got.reduce((m, v, i) => Math.max(m, Math.abs(v - r[i]!)), 0);
      const scale = r.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(err(int8[y]!.data as Float32Array), `${y} int8`).toBeLessThan(0.02 * scale);
      expect(err(float[y]!.data as Float32Array), `${y} float`).toBeLessThan(1e-5 * scale);
    }
  });

  it('planShifts leaves a tensor that is not float32 alone (its Q scale is float16): the centres are float32', () => {
    const { fp32 } = build();
    const qdq = structuredClone(fp32);
    placeQdqForTensorRT(qdq, { ops: ['MatMul'], excludeOps: [], excludeNodes: [], activations: 'int8', weights: 'per-channel', attentionMatMuls: true });
    const slots = findActivationSlots(qdq);
    expect(planShifts(qdq, slots, [undefined])[0]?.channels).toBe(K);
    const scale = qdq.graph.initializer.find((t) => t.name === slots[0]!.params[0]!.scale)!;
    scale.dataType = DataType.FLOAT16;
    expect(planShifts(qdq, slots, [undefined])[0]).toBeUndefined();
  });

  it('holdsOut with scales: an overshoot counts in the scaled units, so a channel the scales widen must hold out widened', () => {
    const r = new ChannelRange(2);
    for (let i = 0; i < 4; i++) r.add(Float32Array.of(i, 0), [1, 1, 2]);
    // Half A: channel 0 in [−3, 3], channel 1 in [−0.1, 0.1]; half B: channel 1 reaches ±0.2.
    const [a, b] = r.halves as [{ min: Float64Array; max: Float64Array }, { min: Float64Array; max: Float64Array }];
    a.min.set([-3, -0.1]), a.max.set([3, 0.1]), b.min.set([-3, -0.2]), b.max.set([3, 0.2]);
    // Centred alone, channel 1's 0.1 beyond is 3% of the range: it holds.
    expect(r.holdsOut()).toBe(true);
    // Scaled so that channel 1 spans the range too (×30), the same 0.1 is 100% of it: it does not.
    expect(r.holdsOut(Float32Array.of(1, 30))).toBe(false);
  });
});
