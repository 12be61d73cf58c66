// safetensors dtypes → float32. The weights qrun exports are float32 in ONNX whatever they were saved
// as, so half-precision checkpoints are widened here (exactly: every F16 and BF16 value is a float32).
// dtype names: https://github.com/huggingface/safetensors/blob/main/safetensors/src/tensor.rs (enum Dtype)

/** Bytes per element of each safetensors dtype (the ones qrun may meet in a header). */
export const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};

export const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16']);

/** IEEE 754 binary16 → float32 (subnormals, infinities and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

let HALF_TABLE: Float32Array | undefined;

/** The float32 value of every binary16 bit pattern (256 KiB), made on first use. */
function halfTable(): Float32Array {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = halfToFloat(h);
  }
  return HALF_TABLE;
}

/**
 * Little-endian bytes of `dtype` → a fresh float32 array. `bytes` may sit at any offset: F32 is
 * copied into an aligned buffer, F16/BF16 are read through a DataView.
 */
export function toFloat32(bytes: Uint8Array, dtype: string): Float32Array {
  if (dtype === 'F32') {
    const out = new Float32Array(bytes.byteLength / 4);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.byteLength / 2);
  if (dtype === 'F16') {
    // One lookup per element: halfToFloat's arithmetic per value took ~0.4 s of the ~0.6 s that
    // exporting a 4.3 M-parameter float16 decoder took; the table is built once (65,536 values).
    const table = halfTable();
    for (let i = 0; i < out.length; i++) out[i] = table[view.getUint16(2 * i, true)]!;
    return out;
  }
  if (dtype === 'BF16') {
    // bfloat16 is the top half of a float32: shift it back into place.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < out.length; i++) bits[i] = view.getUint16(2 * i, true) << 16;
    return out;
  }
  throw new Error(`toFloat32: unsupported dtype ${dtype}`);
}
