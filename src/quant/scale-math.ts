// Scale maths for symmetric and asymmetric linear quantization, as ONNX defines it:
// QuantizeLinear y = saturate(round(x / scale) + zero_point), round half to even, with x / scale
// computed in float32 for float32 x (onnxruntime divides with single-precision SIMD: MLAS
// MlasQuantizeLinear). https://onnx.ai/onnx/operators/onnx__QuantizeLinear.html
//
// Why the float32 division matters: the float64 quotient of two float32 values can sit just below a
// tie that its float32 rounding lands on. x = 0.17082490026950836, scale = 0.0021487409248948097
// (both float32): x / scale = 79.49999848… in float64 → 79, but float32 x / scale = 79.5 → 80 (half to
// even), which is what onnxruntime and TensorRT compute from the same scale. So every quotient here
// is Math.fround(x / s): the float64 division of two float32 values followed by a rounding to float32
// equals IEEE float32 division exactly (double rounding is innocuous when 53 ≥ 2·24 + 2, Figueroa
// 1995), and costs one cvtsd2ss/cvtss2sd pair. A multiplication by 1 / s would be faster and is NOT
// the same: it is off by one code on some ties.

/** Round half to even, as QuantizeLinear does (Math.round rounds half up). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Symmetric int8 uses [-127, 127] (not -128): TensorRT's explicit quantization is symmetric and the
 * restricted range keeps |q| symmetric, so int8·int8 products cannot overflow the VNNI pairs.
 */
export const INT8_MAX = 127;

export function symmetricScale(absMax: number): number {
  return absMax > 0 && Number.isFinite(absMax) ? absMax / INT8_MAX : 1;
}

/** uint8 asymmetric range covering [min, max] and 0 (so zero padding is exact). */
export function asymmetricUint8(min: number, max: number): { scale: number; zeroPoint: number } {
  const lo = Math.min(0, min);
  const hi = Math.max(0, max);
  if (hi - lo <= 0 || !Number.isFinite(hi - lo)) return { scale: 1, zeroPoint: 0 };
  const scale = (hi - lo) / 255;
  const zeroPoint = Math.min(255, Math.max(0, roundHalfEven(-lo / scale)));
  return { scale, zeroPoint };
}

/**
 * 1.5·2^52: for |x| < 2^51, (x + ROUNDING_BIAS) − ROUNDING_BIAS is x rounded to an integer by the
 * float64 addition itself, whose IEEE 754 default rounding is to nearest, ties to even — the rounding
 * QuantizeLinear specifies. Two additions instead of roundHalfEven's Math.round, remainder and
 * comparisons: the per-element loops below run ~10× faster on a BERT-base's 85 M weights.
 */
const ROUNDING_BIAS = 6755399441055744;

/**
 * clamp(roundHalfEven(fround(x / s)), −127, 127) for float32 x and s: QuantizeLinear with zero point 0
 * and the symmetric range. NaN gives NaN (stored as 0 in an Int8Array, as before).
 */
function quantizeToInt8(x: number, s: number): number {
  const q = Math.fround(x / s);
  const clamped = q > 127 ? 127 : q < -127 ? -127 : q; // ±INT8_MAX
  return clamped + ROUNDING_BIAS - ROUNDING_BIAS;
}

/**
 * Per-channel symmetric int8 weights. `axis` is the output-channel axis of `dims`; returns the int8
 * values and one scale per channel. The tensor is walked as [outer, channels, inner] blocks, so no
 * element needs a division to find its channel; each loop is its own small function, which V8
 * compiles to tight code (one function with every case ran at half the speed).
 */
export function quantizeWeightsPerChannel(values: Float32Array, dims: number[], axis: number): { q: Int8Array; scales: Float32Array } {
  const channels = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const absMax = new Float64Array(channels);
  if (inner === 1) absMaxPerColumn(values, absMax);
  else absMaxPerBlock(values, inner, absMax);
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) scales[c] = symmetricScale(absMax[c]!);
  const q = new Int8Array(values.length);
  if (inner === 1) quantizeColumns(values, scales, q);
  else quantizeBlocks(values, inner, scales, q);
  return { q, scales };
}

/** Rows of `absMax.length` columns (MatMul [K, N], axis 1: the common case). */
function absMaxPerColumn(values: Float32Array, absMax: Float64Array): void {
  const channels = absMax.length;
  // Math.abs / Math.max compile to branch-free instructions; a `v < 0 ? -v : v` branch is a coin
  // toss on weights and took twice as long. NaN is skipped (Math.max would propagate it).
  for (let base = 0; base < values.length; base += channels) {
    for (let c = 0; c < channels; c++) {
      const a = Math.abs(values[base + c]!);
      if (a > absMax[c]!) absMax[c] = a;
    }
  }
}

function absMaxPerBlock(values: Float32Array, inner: number, absMax: Float64Array): void {
  const channels = absMax.length;
  for (let base = 0, c = 0; base < values.length; base += inner) {
    let m = absMax[c]!;
    for (let i = base; i < base + inner; i++) {
      const a = Math.abs(values[i]!);
      if (a > m) m = a;
    }
    absMax[c] = m;
    if (++c === channels) c = 0;
  }
}

// A float32 division (not a multiply by 1/scale) keeps the bytes identical to QuantizeLinear's x / scale.
function quantizeColumns(values: Float32Array, scales: Float32Array, q: Int8Array): void {
  const channels = scales.length;
  for (let base = 0; base < values.length; base += channels) {
    for (let c = 0; c < channels; c++) q[base + c] = quantizeToInt8(values[base + c]!, scales[c]!);
  }
}

function quantizeBlocks(values: Float32Array, inner: number, scales: Float32Array, q: Int8Array): void {
  const channels = scales.length;
  for (let base = 0, c = 0; base < values.length; base += inner) {
    const s = scales[c]!;
    for (let i = base; i < base + inner; i++) q[i] = quantizeToInt8(values[i]!, s);
    if (++c === channels) c = 0;
  }
}

export function quantizeWeightsPerTensor(values: Float32Array): { q: Int8Array; scale: number } {
  let absMax = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]!);
    if (a > absMax) absMax = a;
  }
  const scale = Math.fround(symmetricScale(absMax));
  const q = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) q[i] = quantizeToInt8(values[i]!, scale);
  return { q, scale };
}

/** The integer types QuantizeLinear writes here; the zero point's type chooses (as in ONNX). */
const SATURATION = { int8: [-128, 127], uint8: [0, 255] } as const;

/**
 * ONNX QuantizeLinear of float32 values, bit for bit as onnxruntime computes it:
 * y = saturate(roundHalfEven(fround(x / scale)) + zeroPoint) over the zero point's type's full range.
 * `scale` and `zeroPoint` hold one value (per tensor) or one per index of `axis` (per axis, ONNX's
 * default axis 1), and `scale` is float32 as the initializer holds it. The weight quantizers above are
 * this function's fast special case (zero point 0, range ±127); tests check both against
 * onnxruntime. NaN has no defined result in ONNX and is written as 0.
 */
export function quantizeLinear(values: Float32Array, dims: readonly number[], scale: Float32Array, zeroPoint: Int8Array | Uint8Array, axis = 1): Int8Array | Uint8Array {
  if (scale.length !== zeroPoint.length) throw new Error(`quantizeLinear: ${scale.length} scales but ${zeroPoint.length} zero points`);
  const [lo, hi] = SATURATION[zeroPoint instanceof Int8Array ? 'int8' : 'uint8'];
  const out = zeroPoint instanceof Int8Array ? new Int8Array(values.length) : new Uint8Array(values.length);
  // One scale is per tensor (per axis with an axis of size 1 is the same computation).
  const perTensor = scale.length === 1;
  const a = axis < 0 ? axis + dims.length : axis;
  const channels = perTensor ? 1 : dims[a];
  if (!perTensor && channels !== scale.length) throw new Error(`quantizeLinear: ${scale.length} scales for axis ${axis} of size ${channels ?? 'none'}`);
  const inner = perTensor ? values.length : dims.slice(a + 1).reduce((p, d) => p * d, 1);
  for (let base = 0, c = 0; base < values.length; base += inner) {
    const s = scale[c]!;
    const zp = zeroPoint[c]!;
    for (let i = base; i < base + inner; i++) {
      const q = Math.fround(values[i]! / s) + ROUNDING_BIAS - ROUNDING_BIAS + zp;
      // Saturating after rounding equals ONNX's order; a quotient beyond ±2^51 (where the rounding
      // trick is inexact) or ±Infinity is far outside the range and saturates either way.
      out[i] = q < lo ? lo : q > hi ? hi : q;
    }
    if (++c === channels) c = 0;
  }
  return out;
}
