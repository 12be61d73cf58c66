// Block-wise weight quantization of a MatMul's constant B [K, N] (in_features × out_features): each
// output column n is cut along K into blocks of `blockSize` rows (the last one shorter when K is not a
// multiple), and each block gets a float32 scale and, when asymmetric, an integer zero point. One
// block spanning all of K is per-output-channel quantization.
//
// Codes are kept in one unsigned form whatever the encoding written later: u in [0, 2^bits - 1] with
// w ≈ (u - z) · s. Symmetric blocks use z = 2^(bits-1) (MatMulNBits' default zero point; the QDQ form
// writes u - z as a signed int4/int8 with no zero point), asymmetric blocks their own z.
//
// Symmetric: s = max|w| / (2^(bits-1) - 1), so the block's largest magnitude lands on ±7 (±127) and
// every level but -8 (-128) is used; asymmetric: [min, max] of the block widened to hold 0 (so 0 stays
// exact), s = (max - min) / (2^bits - 1), z = round(-min / s). Either way |w - deq(w)| ≤ s/2.
// Scales are rounded to float32 before the codes are chosen, so the codes are the nearest ones for the
// scale that is actually stored.
export interface BlockSpec {
  bits: 4 | 8;
  /** Rows of K per block; K itself (or more) means one block per output channel. */
  blockSize: number;
  symmetric: boolean;
  /**
   * Search each block's range: the shrink factor of [min, max] (1 down to 0.6 in steps of 0.02)
   * whose codes give the least squared error, weighted by each row's importance where one is given
   * (GPTQ: the Hessian's diagonal, the input's mean square). Off: the full range.
   */
  clip?: boolean;
}

/** Shrink factors of a block's range tried by the clipping search, widest first. */
export const CLIP_GRID: readonly number[] = Array.from({ length: 21 }, (_, i) => 1 - i * 0.02);

/**
 * A block's scale and zero point: from its full range, or (spec.clip) the range shrunk by the factor
 * of CLIP_GRID whose codes give the least Σ importance_i (v_i − deq(v_i))² (ties: the wider range).
 */
export function chooseBlockParams(values: Float64Array | Float32Array, count: number, spec: { bits: number; symmetric: boolean; clip?: boolean }, importance?: Float64Array): { scale: number; zero: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < count; i++) {
    const v = values[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const full = blockParams(min, max, spec);
  if (!spec.clip) return full;
  const levels = 2 ** spec.bits - 1;
  let best = full;
  let bestError = Infinity;
  for (const f of CLIP_GRID) {
    const p = f === 1 ? full : blockParams(f * min, f * max, spec);
    let e = 0;
    for (let i = 0; i < count; i++) {
      const v = values[i]!;
      const d = v - Math.fround((quantizeValue(v, p.scale, p.zero, levels) - p.zero) * p.scale);
      e += (importance ? importance[i]! : 1) * d * d;
    }
    if (e < bestError) (bestError = e), (best = p);
  }
  return best;
}

export interface QuantizedWeight {
  K: number;
  N: number;
  bits: 4 | 8;
  blockSize: number;
  blocks: number;
  symmetric: boolean;
  /** Codes, output-column major: u[n * K + k]. */
  codes: Uint8Array;
  /** Scales [N, blocks]. */
  scales: Float32Array;
  /** Zero points [N, blocks] (2^(bits-1) everywhere when symmetric). */
  zeroPoints: Uint8Array;
}

export function blockCount(K: number, blockSize: number): number {
  return Math.ceil(K / blockSize);
}

/** Round half to even, as numpy and onnxruntime's QuantizeLinear do. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Scale and zero point of one block from its values' range (min ≤ 0 ≤ max after widening). */
export function blockParams(min: number, max: number, spec: { bits: number; symmetric: boolean }): { scale: number; zero: number } {
  const levels = 2 ** spec.bits - 1;
  if (spec.symmetric) {
    const half = 2 ** (spec.bits - 1);
    const amax = Math.max(Math.abs(min), Math.abs(max));
    const scale = Math.fround(amax / (half - 1));
    return { scale: scale > 0 ? scale : 1, zero: half };
  }
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  const scale = Math.fround((hi - lo) / levels);
  if (!(scale > 0)) return { scale: 1, zero: 2 ** (spec.bits - 1) };
  const zero = Math.min(levels, Math.max(0, roundHalfEven(-lo / scale)));
  return { scale, zero };
}

/** The code of w for a block's scale and zero point. */
export function quantizeValue(w: number, scale: number, zero: number, levels: number): number {
  const u = roundHalfEven(w / scale) + zero;
  return u < 0 ? 0 : u > levels ? levels : u;
}

/** Allocates an empty result; `fill` by rtn or gptq. */
export function emptyQuantized(K: number, N: number, spec: BlockSpec): QuantizedWeight {
  const blockSize = spec.blockSize;
  const blocks = blockCount(K, blockSize);
  return {
    K,
    N,
    bits: spec.bits,
    blockSize,
    blocks,
    symmetric: spec.symmetric,
    codes: new Uint8Array(N * K),
    scales: new Float32Array(N * blocks),
    zeroPoints: new Uint8Array(N * blocks),
  };
}

/** Round-to-nearest: every block's scale from its own range, every code the nearest level. */
export function quantizeRtn(weight: Float32Array, K: number, N: number, spec: BlockSpec): QuantizedWeight {
  if (weight.length !== K * N) throw new Error(`weight has ${weight.length} values, expected ${K}×${N}`);
  const q = emptyQuantized(K, N, spec);
  const levels = 2 ** spec.bits - 1;
  const block = new Float32Array(Math.min(K, q.blockSize));
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < q.blocks; b++) {
      const k0 = b * q.blockSize;
      const k1 = Math.min(K, k0 + q.blockSize);
      for (let k = k0; k < k1; k++) block[k - k0] = weight[k * N + n]!;
      const { scale, zero } = chooseBlockParams(block, k1 - k0, spec);
      q.scales[n * q.blocks + b] = scale;
      q.zeroPoints[n * q.blocks + b] = zero;
      for (let k = k0; k < k1; k++) q.codes[n * K + k] = quantizeValue(weight[k * N + n]!, scale, zero, levels);
    }
  }
  return q;
}

/** The dequantized weight [K, N] in float32, computed as onnxruntime does: (u - z) · s in float32. */
export function dequantize(q: QuantizedWeight): Float32Array {
  const out = new Float32Array(q.K * q.N);
  for (let n = 0; n < q.N; n++) {
    for (let k = 0; k < q.K; k++) {
      const b = Math.floor(k / q.blockSize);
      const s = q.scales[n * q.blocks + b]!;
      const z = q.zeroPoints[n * q.blocks + b]!;
      out[k * q.N + n] = Math.fround((q.codes[n * q.K + k]! - z) * s);
    }
  }
  return out;
}
