// Writes safetensors bytes (the inverse of SafetensorsFile): used to make checkpoints in tests and
// to cut a tensor out of a real one. Header keys are written sorted, and the header is padded with
// spaces to a multiple of 8 bytes, as the reference implementation does, so data stays aligned.
import { DTYPE_BYTES } from './dtype.ts';

export interface TensorBytes {
  dtype: string;
  shape: number[];
  /** Little-endian element bytes. */
  data: Uint8Array;
}

export function encodeSafetensors(tensors: Record<string, TensorBytes>, metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const names = Object.keys(tensors).sort();
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    const expected = t.shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[t.dtype] ?? NaN);
    if (t.data.byteLength !== expected) throw new Error(`tensor ${name}: ${t.data.byteLength} bytes for ${t.dtype} [${t.shape.join(', ')}]`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.byteLength));
  return Buffer.concat([prefix, headerBytes, ...names.map((n) => tensors[n]!.data)]);
}

/** float32 values as F32 tensor bytes. */
export const f32 = (shape: number[], values: ArrayLike<number>): TensorBytes => ({
  dtype: 'F32',
  shape,
  data: new Uint8Array(Float32Array.from(values).buffer),
});
