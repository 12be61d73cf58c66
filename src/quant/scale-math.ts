// Scale maths for symmetric and asymmetric linear quantization, as ONNX defines it:
// QuantizeLinear y = saturate(round(x / scale) + zero_point), round half to even.
// https://onnx.ai/onnx/operators/onnx__QuantizeLinear.html

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
 * Per-channel symmetric int8 weights. `axis` is the output-channel axis of `dims`; returns the int8
 * values and one scale per channel.
 */
export function quantizeWeightsPerChannel(values: Float32Array, dims: number[], axis: number): { q: Int8Array; scales: Float32Array } {
  const channels = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const scales = new Float32Array(channels);
  const absMax = new Float64Array(channels);
  for (let i = 0; i < values.length; i++) {
    const c = Math.floor(i / inner) % channels;
    const a = Math.abs(values[i]!);
    if (a > absMax[c]!) absMax[c] = a;
  }
  for (let c = 0; c < channels; c++) scales[c] = symmetricScale(absMax[c]!);
  const q = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const c = Math.floor(i / inner) % channels;
    q[i] = Math.max(-INT8_MAX, Math.min(INT8_MAX, roundHalfEven(values[i]! / scales[c]!)));
  }
  return { q, scales };
}

export function quantizeWeightsPerTensor(values: Float32Array): { q: Int8Array; scale: number } {
  let absMax = 0;
  for (const v of values) absMax = Math.max(absMax, Math.abs(v));
  const scale = Math.fround(symmetricScale(absMax));
  const q = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) q[i] = Math.max(-INT8_MAX, Math.min(INT8_MAX, roundHalfEven(values[i]! / scale)));
  return { q, scale };
}
