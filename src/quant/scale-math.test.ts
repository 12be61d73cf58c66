// Scale maths must match ONNX QuantizeLinear exactly (round half to even, saturation), or the int8
// weights qrun writes differ from what onnxruntime / TensorRT would compute from the same scales.
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../tests/helpers/temp.ts';
import { asymmetricUint8, INT8_MAX, quantizeWeightsPerChannel, quantizeWeightsPerTensor, roundHalfEven, symmetricScale } from './scale-math.ts';

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

  it('equals the element-by-element reference (roundHalfEven of value / scale, clamped) on every layout, ties included', () => {
    const rand = seededRandom(19);
    const reference = (values: Float32Array, dims: number[], axis: number, scales: Float32Array) => {
      const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
      return Int8Array.from(values, (v, i) => Math.max(-127, Math.min(127, roundHalfEven(v / scales[Math.floor(i / inner) % dims[axis]!]!))));
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
