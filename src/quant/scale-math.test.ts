// Scale maths must match ONNX QuantizeLinear exactly (round half to even, saturation), or the int8
// weights qrun writes differ from what onnxruntime / TensorRT would compute from the same scales.
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { intAttr, model, node, run, valueInfo } from '../../tests/helpers/onnx-build.ts';
import { seededRandom } from '../../tests/helpers/temp.ts';
import { makeFloatTensor, makeInt8Tensor, makeUint8Tensor } from '../onnx/tensor.ts';
import { DataType } from '../onnx/types.ts';
import { asymmetricUint8, INT8_MAX, quantizeLinear, quantizeWeightsPerChannel, quantizeWeightsPerTensor, roundHalfEven, symmetricScale } from './scale-math.ts';

describe('roundHalfEven', () => {
  it.each([
    [0.5, 0],
    [1.5, 2],
    [2.5, 2],
    [3.5, 4],
    [-0.5, 0],
    [-1.5, -2],
    [-2.5, -2],
    [-3.5, -4],
    [126.5, 126],
    [127.5, 128],
    [-126.5, -126],
  ])('%d → %d (ties go to the even neighbour)', (x, expected) => {
    expect(roundHalfEven(x) + 0).toBe(expected); // + 0 turns -0 into 0
  });

  it.each([
    [0.49999999999999994, 0],
    [0.5000000000000001, 1],
    [2.4, 2],
    [2.6, 3],
    [-2.4, -2],
    [-2.6, -3],
    [7, 7],
    [-7, -7],
  ])('%d → %d (not a tie: nearest)', (x, expected) => {
    expect(roundHalfEven(x) + 0).toBe(expected);
  });

  it('differs from Math.round exactly on positive odd-floor ties and negative even ties', () => {
    const differ = [];
    for (let k = -6; k <= 6; k++) if (roundHalfEven(k + 0.5) !== Math.round(k + 0.5)) differ.push(k + 0.5);
    expect(differ).toEqual([-5.5, -3.5, -1.5, 0.5, 2.5, 4.5, 6.5]);
  });
});

describe('symmetric and asymmetric scales', () => {
  it('symmetric int8 maps absMax to 127 and falls back to 1 for zero or non-finite ranges', () => {
    expect(INT8_MAX).toBe(127);
    expect(symmetricScale(12.7)).toBeCloseTo(0.1, 15);
    expect(symmetricScale(0)).toBe(1);
    expect(symmetricScale(Infinity)).toBe(1);
    expect(symmetricScale(NaN)).toBe(1);
  });

  it('asymmetric uint8 covers [min, max] and 0, with zero exactly representable', () => {
    const { scale, zeroPoint } = asymmetricUint8(-1, 3);
    expect(scale).toBeCloseTo(4 / 255, 15);
    expect(zeroPoint).toBe(64); // roundHalfEven(1 / (4/255)) = roundHalfEven(63.75)
    // 0 quantizes to the zero point and back to exactly 0.
    expect((roundHalfEven(0 / scale) + zeroPoint - zeroPoint) * scale).toBe(0);
    // min and max stay inside [0, 255] after rounding.
    expect(roundHalfEven(-1 / scale) + zeroPoint).toBeGreaterThanOrEqual(0);
    expect(roundHalfEven(3 / scale) + zeroPoint).toBeLessThanOrEqual(255);
    expect(asymmetricUint8(2, 5)).toEqual({ scale: 5 / 255, zeroPoint: 0 }); // range widened to include 0
    expect(asymmetricUint8(-4, -1)).toEqual({ scale: 4 / 255, zeroPoint: 255 });
    expect(asymmetricUint8(0, 0)).toEqual({ scale: 1, zeroPoint: 0 });
  });
});

describe('quantizeWeightsPerChannel', () => {
  /** Checks |w - q·scale| <= scale/2 for every element, with the channel of each element along axis. */
  function checkBound(values: Float32Array, dims: number[], axis: number) {
    const { q, scales } = quantizeWeightsPerChannel(values, dims, axis);
    expect(q).toHaveLength(values.length);
    expect(scales).toHaveLength(dims[axis]!);
    const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
    let worst = 0;
    for (let i = 0; i < values.length; i++) {
      const c = Math.floor(i / inner) % dims[axis]!;
      const s = scales[c]!;
      const err = Math.abs(values[i]! - q[i]! * s);
      // float32 scales: allow a relative hair over half a step.
      expect(err, `element ${i} (channel ${c})`).toBeLessThanOrEqual(s / 2 + s * 1e-6);
      expect(Math.abs(q[i]!)).toBeLessThanOrEqual(127);
      worst = Math.max(worst, err / s);
    }
    return { q, scales, worst };
  }

  it('[K, N] MatMul weights, per output channel (last axis): error within half a step everywhere', () => {
    const rand = seededRandom(7);
    const K = 64;
    const N = 48;
    // Channels with very different ranges: a per-tensor scale would lose the small ones.
    const values = Float32Array.from({ length: K * N }, (_, i) => (rand() * 2 - 1) * 10 ** ((i % N) / 12 - 2));
    const { scales, worst } = checkBound(values, [K, N], 1);
    expect(worst).toBeGreaterThan(0.3); // the bound is tight, not vacuous
    // Each channel's scale is its own absMax / 127.
    for (let n = 0; n < N; n++) {
      let absMax = 0;
      for (let k = 0; k < K; k++) absMax = Math.max(absMax, Math.abs(values[k * N + n]!));
      expect(scales[n]).toBeCloseTo(Math.fround(absMax / 127), 6);
    }
  });

  it('[N, K] Gemm transB weights and 4-D conv weights (axis 0)', () => {
    const rand = seededRandom(11);
    checkBound(Float32Array.from({ length: 6 * 10 }, () => rand() * 4 - 2), [6, 10], 0);
    checkBound(Float32Array.from({ length: 4 * 3 * 3 * 3 }, () => rand() - 0.5), [4, 3, 3, 3], 0);
  });

  it('each channel’s largest magnitude maps to ±127 and ties round half to even', () => {
    // [3, 2] with channels on axis 1 (exact binary fractions, so the ties are real ties):
    // channel 0 = elements 0, 2, 4: absMax 31.75 → scale 0.25; 0.625 → 2.5 → 2, -0.875 → -3.5 → -4.
    // channel 1 = elements 1, 3, 5: absMax 63.5 → scale 0.5; 0.75 → 1.5 → 2.
    const values = Float32Array.of(31.75, 63.5, 0.625, 0.75, -0.875, -63.5);
    const { q, scales } = quantizeWeightsPerChannel(values, [3, 2], 1);
    expect(Array.from(scales)).toEqual([0.25, 0.5]);
    expect(Array.from(q)).toEqual([127, 127, 2, 2, -4, -127]);
  });

  it('equals the element-by-element reference (roundHalfEven of the float32 value / scale, clamped) on every layout, ties included', () => {
    const rand = seededRandom(19);
    const reference = (values: Float32Array, dims: number[], axis: number, scales: Float32Array) => {
      const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
      return Int8Array.from(values, (v, i) => Math.max(-127, Math.min(127, roundHalfEven(Math.fround(v / scales[Math.floor(i / inner) % dims[axis]!]!)))));
    };
    for (const [dims, axis] of [[[33, 17], 1], [[17, 33], 0], [[5, 4, 3, 3], 0], [[2, 3, 4], 1]] as const) {
      const n = dims.reduce((a, b) => a * b, 1);
      // Half of the values sit exactly on a tie for a power-of-two scale; NaN and ±Inf as well.
      const values = Float32Array.from({ length: n }, (_, i) => (i % 2 ? (rand() * 2 - 1) * 8 : (Math.floor(rand() * 64) - 32 + 0.5) / 8));
      values[3] = NaN;
      const { q, scales } = quantizeWeightsPerChannel(values, [...dims], axis);
      expect(Array.from(q), `dims ${dims.join('×')} axis ${axis}`).toEqual(Array.from(reference(values, [...dims], axis, scales)));
    }
    const inf = quantizeWeightsPerTensor(Float32Array.of(1, -Infinity, 0.5, NaN));
    expect(inf.scale).toBe(1); // no finite range: the fallback scale
    expect(Array.from(inf.q)).toEqual([1, -127, 0, 0]);
  });

  it('an all-zero channel gets scale 1 and zeros', () => {
    const { q, scales } = quantizeWeightsPerChannel(Float32Array.of(0, 2, 0, -1), [2, 2], 1);
    expect(Array.from(scales)).toEqual([1, Math.fround(2 / 127)]);
    expect(Array.from(q)).toEqual([0, 127, 0, -64]);
  });
});

describe('quantizeWeightsPerTensor', () => {
  it('one float32 scale from the global absMax, error within half a step', () => {
    const rand = seededRandom(3);
    const values = Float32Array.from({ length: 1000 }, () => rand() * 6 - 3);
    const { q, scale } = quantizeWeightsPerTensor(values);
    expect(scale).toBe(Math.fround(scale)); // representable as the float32 initializer holds it
    let absMax = 0;
    for (const v of values) absMax = Math.max(absMax, Math.abs(v));
    expect(scale).toBeCloseTo(absMax / 127, 6);
    for (let i = 0; i < values.length; i++) {
      expect(Math.abs(values[i]! - q[i]! * scale)).toBeLessThanOrEqual(scale / 2 + scale * 1e-6);
    }
    expect(Math.max(...Array.from(q, Math.abs))).toBe(127);
  });
});

// ---------------------------------------------------------------------------------------------
// Byte for byte against onnxruntime's own QuantizeLinear: a one-node model per case, run on the CPU
// without graph optimisation. The data hold exact float32 ties (x / s == k + 0.5 in float32) and
// their float32 neighbours, where a float64 quotient rounds to the other side.

/** onnxruntime's QuantizeLinear of `values` (float32, `dims`) with these scales and zero points. */
async function ortQuantizeLinear(values: Float32Array, dims: number[], scale: Float32Array, zeroPoint: Int8Array | Uint8Array, axis = 1): Promise<Int8Array | Uint8Array> {
  const perTensor = scale.length === 1;
  const sDims = perTensor ? [] : [scale.length];
  const int8 = zeroPoint instanceof Int8Array;
  const m = model({
    nodes: [node('QuantizeLinear', ['x', 'scale', 'zero_point'], ['y'], 'q', perTensor ? [] : [intAttr('axis', axis)])],
    inputs: [valueInfo('x', DataType.FLOAT, dims)],
    outputs: [valueInfo('y', int8 ? DataType.INT8 : DataType.UINT8, dims)],
    initializers: [makeFloatTensor('scale', sDims, scale), int8 ? makeInt8Tensor('zero_point', sDims, zeroPoint) : makeUint8Tensor('zero_point', sDims, zeroPoint as Uint8Array)],
  });
  const out = await run(m, { x: new ort.Tensor('float32', values, dims) });
  return out.y!.data as Int8Array | Uint8Array;
}

/** The first index where two quantized tensors differ, with both codes and the inputs, or null. */
function firstDifference(ours: Int8Array | Uint8Array, theirs: Int8Array | Uint8Array, values: Float32Array, scaleOf: (i: number) => number): string | null {
  if (ours.length !== theirs.length) return `lengths ${ours.length} vs ${theirs.length}`;
  let count = 0;
  let first = -1;
  for (let i = 0; i < ours.length; i++) {
    if (ours[i] !== theirs[i]) {
      count++;
      if (first < 0) first = i;
    }
  }
  if (count === 0) return null;
  const x = values[first]!;
  const s = scaleOf(first);
  return `${count} of ${ours.length} codes differ; first at ${first}: x = ${x}, scale = ${s}, qrun ${ours[first]}, onnxruntime ${theirs[first]} (float32 x / scale = ${Math.fround(x / s)}, float64 ${x / s})`;
}

const f32 = new Float32Array(1);
const f32Bits = new Int32Array(f32.buffer);
/** The float32 `steps` representable values away from float32 x (x itself for 0). */
function nextFloat32(x: number, steps: number): number {
  f32[0] = x;
  f32Bits[0]! += x < 0 ? -steps : steps;
  return f32[0]!;
}

/**
 * n float32 values for scale s and codes around [qMin, qMax]: a third uniform over the range and a
 * little past it (saturation), a third exact ties k + 0.5 (in float32 division), a third the float32
 * neighbours of ties, whose float64 quotients can fall on the other side of the tie.
 */
function valuesFor(s: number, n: number, qMin: number, qMax: number, rand: () => number): number[] {
  const out: number[] = [];
  while (out.length < n) {
    const pick = out.length % 3;
    const k = Math.floor(qMin + rand() * (qMax - qMin));
    if (pick === 0) out.push(Math.fround((qMin - 3 + rand() * (qMax - qMin + 6)) * s));
    else {
      const tie = Math.fround((k + 0.5) * s);
      if (Math.fround(tie / s) !== k + 0.5) continue; // not an exact float32 tie for this scale
      out.push(pick === 1 ? tie : nextFloat32(tie, rand() < 0.5 ? -1 : 1));
    }
  }
  return out;
}

/** Element indices of each channel along `axis` (one channel for the whole tensor when axis is null). */
function channelIndices(dims: readonly number[], axis: number | null): number[][] {
  const n = dims.reduce((a, b) => a * b, 1);
  if (axis === null) return [Array.from({ length: n }, (_, i) => i)];
  const channels = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out: number[][] = Array.from({ length: channels }, () => []);
  for (let i = 0; i < n; i++) out[Math.floor(i / inner) % channels]!.push(i);
  return out;
}

/** How many values round to a different code when the quotient is taken in float64 (the old bug). */
function float64Disagreements(values: Float32Array, scaleOf: (i: number) => number): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (roundHalfEven(values[i]! / scaleOf(i)) !== roundHalfEven(Math.fround(values[i]! / scaleOf(i)))) n++;
  return n;
}

describe('QuantizeLinear byte for byte with onnxruntime (float32 division, half to even, saturation)', () => {
  it('the issue’s example: 0.17082490026950836 / 0.0021487409248948097 is 79.5 in float32 → 80, not 79', async () => {
    const x = 0.17082490026950836;
    const s = 0.0021487409248948097;
    expect(Math.fround(x)).toBe(x); // both are float32 values
    expect(Math.fround(s)).toBe(s);
    expect(roundHalfEven(x / s)).toBe(79); // the float64 quotient 79.4999984… (what qrun wrote)
    // A per-tensor weight whose absMax 0.27289009… gives exactly this scale.
    const w = quantizeWeightsPerTensor(Float32Array.of(0.2728900909423828, x, -x));
    expect(w.scale).toBe(s);
    expect(Array.from(w.q)).toEqual([127, 80, -80]);
    const values = Float32Array.of(x, -x);
    expect(Array.from(quantizeLinear(values, [2], Float32Array.of(s), Int8Array.of(0)))).toEqual([80, -80]);
    expect(Array.from(await ortQuantizeLinear(values, [2], Float32Array.of(s), Int8Array.of(0)))).toEqual([80, -80]);
  });

  it('per tensor, int8 and uint8 with zero points, 24 000 values each', async () => {
    const rand = seededRandom(181);
    for (const [type, zp] of [['int8', -7], ['int8', 0], ['uint8', 128], ['uint8', 3]] as const) {
      const [lo, hi] = type === 'int8' ? [-128, 127] : [0, 255];
      const s = Math.fround(10 ** (rand() * 5 - 4));
      const values = Float32Array.from(valuesFor(s, 24_000, lo - zp, hi - zp, rand));
      expect(float64Disagreements(values, () => s), 'the data hold cases a float64 quotient gets wrong').toBeGreaterThan(0);
      const zero = type === 'int8' ? Int8Array.of(zp) : Uint8Array.of(zp);
      const ours = quantizeLinear(values, [values.length], Float32Array.of(s), zero);
      const theirs = await ortQuantizeLinear(values, [values.length], Float32Array.of(s), zero);
      expect(firstDifference(ours, theirs, values, () => s), `${type} zero point ${zp}`).toBeNull();
    }
  });

  it('per channel on axis 0, 1 and the last, int8 and uint8, a scale and zero point per channel', async () => {
    const rand = seededRandom(182);
    for (const [dims, axis, type] of [[[48, 500], 0, 'int8'], [[300, 80], 1, 'uint8'], [[6, 40, 100], 1, 'int8'], [[50, 8, 60], 2, 'uint8']] as const) {
      const channels = channelIndices(dims, axis);
      const scale = Float32Array.from(channels, () => Math.fround(10 ** (rand() * 5 - 4)));
      const zero = type === 'int8' ? Int8Array.from(channels, () => Math.floor(rand() * 41) - 20) : Uint8Array.from(channels, () => Math.floor(rand() * 256));
      const [lo, hi] = type === 'int8' ? [-128, 127] : [0, 255];
      const values = new Float32Array(dims.reduce((a, b) => a * b, 1));
      const channelOf = new Int32Array(values.length);
      // Each element is drawn for its own channel's scale and zero point.
      channels.forEach((idx, c) => valuesFor(scale[c]!, idx.length, lo - zero[c]!, hi - zero[c]!, rand).forEach((v, j) => ((values[idx[j]!] = v), (channelOf[idx[j]!] = c))));
      const scaleOf = (i: number) => scale[channelOf[i]!]!;
      expect(float64Disagreements(values, scaleOf)).toBeGreaterThan(0);
      const ours = quantizeLinear(values, [...dims], scale, zero, axis);
      const theirs = await ortQuantizeLinear(values, [...dims], scale, zero, axis);
      expect(firstDifference(ours, theirs, values, scaleOf), `${dims.join('×')} axis ${axis} ${type}`).toBeNull();
    }
  });

  it('the weight quantizers (per channel on every layout, per tensor) write what onnxruntime computes from their scales', async () => {
    const rand = seededRandom(183);
    for (const [dims, axis] of [[[256, 96], 1], [[96, 256], 0], [[32, 16, 3, 3], 0], [[200, 200], null]] as const) {
      const channels = channelIndices(dims, axis);
      // Each channel's absMax is its first element, so its scale fround(absMax / 127) is known before
      // quantizing, and the rest are ties and near-ties for that scale (|x| below absMax).
      const absMax = channels.map(() => Math.fround(10 ** (rand() * 4 - 3)));
      const expectedScale = absMax.map((a) => Math.fround(a / 127));
      const values = new Float32Array(dims.reduce((a, b) => a * b, 1));
      const channelOf = new Int32Array(values.length);
      channels.forEach((idx, c) => {
        values[idx[0]!] = rand() < 0.5 ? -absMax[c]! : absMax[c]!;
        valuesFor(expectedScale[c]!, idx.length - 1, -126, 126, rand).forEach((v, j) => (values[idx[j + 1]!] = Math.abs(v) < absMax[c]! ? v : 0));
        for (const i of idx) channelOf[i] = c;
      });
      const { q, scales } =
        axis === null
          ? (({ q, scale }) => ({ q, scales: Float32Array.of(scale) }))(quantizeWeightsPerTensor(values))
          : quantizeWeightsPerChannel(values, [...dims], axis);
      expect(Array.from(scales)).toEqual(expectedScale);
      const scaleOf = (i: number) => scales[channelOf[i]!]!;
      expect(float64Disagreements(values, scaleOf), 'the data hold cases a float64 quotient gets wrong').toBeGreaterThan(0);
      const theirs = await ortQuantizeLinear(values, [...dims], scales, new Int8Array(scales.length), axis ?? 1);
      expect(firstDifference(q, theirs, values, scaleOf), `${dims.join('×')} axis ${axis ?? 'none (per tensor)'}`).toBeNull();
    }
  });
});
