// One .safetensors file: an 8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {…}}, then the tensor bytes;
// offsets are relative to the first byte after the header.
// Format: https://github.com/huggingface/safetensors#format
// Only the header is read on open; each tensor is read by offset through a file handle when asked
// for, so a multi-GB checkpoint never sits in one Buffer.
import { open, type FileHandle } from 'node:fs/promises';
import { DTYPE_BYTES, FLOAT_DTYPES, toFloat32 } from './dtype.ts';
import { safetensorsErrors } from './errors.ts';

/** The safetensors reference implementation refuses headers above 100 MB (MAX_HEADER_SIZE). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  /** Absolute byte range in the file (header already added). */
  begin: number;
  end: number;
}

export class SafetensorsFile {
  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Record<string, string>,
  ) {}

  /** Opens the file and validates its header against the file size. Throws SAFETENSORS_CORRUPT. */
  static async open(file: string): Promise<SafetensorsFile> {
    const handle = await open(file, 'r');
    try {
      const { tensors, metadata } = await readHeader(file, handle);
      return new SafetensorsFile(file, handle, tensors, metadata);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** The tensor's values widened to float32 (F32, F16, BF16). */
  async readFloat32(name: string): Promise<Float32Array> {
    const info = this.tensors.get(name);
    if (!info) throw new Error(`${this.file} has no tensor ${name}`);
    if (!FLOAT_DTYPES.has(info.dtype)) throw safetensorsErrors.unsupportedDtype(this.file, name, info.dtype);
    const bytes = new Uint8Array(info.end - info.begin);
    let done = 0;
    // read() may return fewer bytes than asked (large reads, network file systems): loop.
    while (done < bytes.length) {
      const { bytesRead } = await this.handle.read(bytes, done, bytes.length - done, info.begin + done);
      if (bytesRead === 0) throw safetensorsErrors.corrupt(this.file, `file ended while reading tensor "${name}"`);
      done += bytesRead;
    }
    return toFloat32(bytes, info.dtype);
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

async function readHeader(file: string, handle: FileHandle): Promise<{ tensors: Map<string, TensorInfo>; metadata: Record<string, string> }> {
  const size = (await handle.stat()).size;
  if (size < 8) throw safetensorsErrors.corrupt(file, `the file is ${size} bytes, shorter than the 8-byte header length`);
  const prefix = Buffer.alloc(8);
  await handle.read(prefix, 0, 8, 0);
  const headerLength = prefix.readBigUInt64LE(0);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    throw safetensorsErrors.corrupt(file, `header length ${headerLength} is above the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`);
  }
  const n = Number(headerLength);
  if (8 + n > size) throw safetensorsErrors.corrupt(file, `the header claims ${n} bytes but the file is ${size} bytes (truncated?)`);
  const headerBytes = Buffer.alloc(n);
  await handle.read(headerBytes, 0, n, 8);
  let header: unknown;
  try {
    header = JSON.parse(headerBytes.toString('utf8'));
  } catch (e) {
    throw safetensorsErrors.corrupt(file, `the header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw safetensorsErrors.corrupt(file, 'the header is not a JSON object');

  const dataStart = 8 + n;
  const dataBytes = size - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = (raw ?? {}) as Record<string, string>;
      continue;
    }
    const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const bad = (why: string) => safetensorsErrors.corrupt(file, `tensor "${name}": ${why}`);
    if (typeof entry?.dtype !== 'string' || !(entry.dtype in DTYPE_BYTES)) throw bad(`unknown dtype ${JSON.stringify(entry?.dtype)}`);
    if (!Array.isArray(entry.shape) || !entry.shape.every((d) => Number.isInteger(d) && d >= 0)) throw bad('shape is not a list of sizes');
    const offsets = entry.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) throw bad('data_offsets is not [begin, end]');
    const [begin, end] = offsets as [number, number];
    const shape = entry.shape as number[];
    const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[entry.dtype]!;
    if (end < begin || end - begin !== expected) throw bad(`data_offsets [${begin}, ${end}] hold ${end - begin} bytes, shape [${shape.join(', ')}] × ${entry.dtype} needs ${expected}`);
    if (end > dataBytes) throw bad(`data_offsets [${begin}, ${end}] run past the end of the data (${dataBytes} bytes; file truncated?)`);
    tensors.set(name, { name, dtype: entry.dtype, shape, begin: dataStart + begin, end: dataStart + end });
  }
  return { tensors, metadata };
}
