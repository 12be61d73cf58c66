// Tensor data sets: calibration and evaluation inputs given as tensors rather than text, so models
// without a tokenizer (vision: pixel_values; audio: input_features) can be calibrated and evaluated.
// Formats, chosen by the file extension:
//   .npy            one array whose first axis is the sample axis; fed to the model's only input
//                   (or to `input`)           https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
//   .npz            a zip of .npy files (np.savez / np.savez_compressed), one per model input, named
//                   after it; `label` or `labels` holds per-sample labels
//   .tensors.jsonl  (or a .jsonl whose first line has no "text") one JSON object per line:
//                   {"pixel_values": [[...]], "label": "cat"} (string values are metadata and
//                   ignored); each line is one sample, given without
//                   the batch axis, or with it when its rank equals the model input's rank
// Shapes may differ from sample to sample: samples are grouped into batches of equal shapes.
import { closeSync, openSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { errors } from '../errors.ts';
import { rawLabel, type RawLabel } from './labels.ts';

export type HostArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

/** A tensor held in memory as numpy wrote it (or as parsed from JSON). */
export interface HostTensor {
  dims: number[];
  data: HostArray;
  /** numpy dtype kind: f float, i signed int, u unsigned int, b bool. */
  kind: 'f' | 'i' | 'u' | 'b';
}

export interface TensorDataset {
  file: string;
  format: 'npy' | 'npz' | 'jsonl';
  /**
   * npy/npz: one record, the first axis of every tensor is the sample axis. jsonl: one record per
   * line, one sample each (or a batch, see the header).
   */
  records: Record<string, HostTensor>[];
  /** Per record (jsonl) or per sample (npz `labels`), as written (src/data/labels.ts); null where unknown. */
  labels: RawLabel[] | null;
  /** jsonl: the 1-based line of each record, for messages about its label. */
  lines?: number[];
}

/** The key npy data is fed under when the file does not name the model input. */
export const UNNAMED_INPUT = '';

/** Whether a data file holds tensors (by extension; a .jsonl is sniffed: no "text" key → tensors). */
export function isTensorDataFile(file: string): boolean {
  const f = file.toLowerCase();
  if (f.endsWith('.npy') || f.endsWith('.npz') || f.endsWith('.tensors.jsonl')) return true;
  if (!f.endsWith('.jsonl') && !f.endsWith('.json')) return false;
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const head = buf.subarray(0, n).toString('utf8').trimStart();
    // A text sample starts {"text": … in practice; a tensor line has an array of numbers first (words
    // with tags, {"tokens": ["Open", …], …}, are text: an array of strings).
    const m = /^\{\s*"((?:[^"\\]|\\.)*)"\s*:\s*(\[?)\s*(.)/.exec(head);
    return m !== null && m[1] !== 'text' && m[2] === '[' && m[3] !== '"';
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export async function readTensorDataset(file: string): Promise<TensorDataset> {
  const lower = file.toLowerCase();
  const bytes = await readFile(file).catch(() => {
    throw errors.fileNotFound('tensor data set', file);
  });
  if (lower.endsWith('.npy')) return { file, format: 'npy', records: [{ [UNNAMED_INPUT]: parseNpy(bytes, file) }], labels: null };
  if (lower.endsWith('.npz')) return readNpz(bytes, file);
  return readTensorJsonLines(bytes.toString('utf8'), file);
}

// ---------------------------------------------------------------------------------------------
// .npy: magic "\x93NUMPY", version, little-endian header length, a Python dict literal header
// ({'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }), then the raw C-order data.

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

export function parseNpy(bytes: Uint8Array, source: string): HostTensor {
  const bad = (why: string) => errors.dataInvalid(source, 1, `${source} is not a readable .npy array: ${why}`);
  if (!NPY_MAGIC.every((b, i) => bytes[i] === b)) throw bad('no \\x93NUMPY magic');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6]!;
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = Buffer.from(bytes.subarray(headerStart, headerStart + headerLen)).toString(major >= 3 ? 'utf8' : 'latin1');
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw bad(`header ${JSON.stringify(header.trim())}`);
  if (fortran === 'True') throw bad('Fortran-order arrays are not supported (save with np.ascontiguousarray)');
  const dims = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const data = bytes.subarray(headerStart + headerLen);
  return decodeDtype(descr, data, count, bad, dims);
}

function decodeDtype(descr: string, raw: Uint8Array, count: number, bad: (why: string) => Error, dims: number[]): HostTensor {
  const order = descr[0];
  const code = descr.slice(1);
  if (order === '>' && !['i1', 'u1', 'b1'].includes(code)) throw bad(`big-endian dtype ${descr} (save little-endian arrays)`);
  const sizes: Record<string, number> = { f2: 2, f4: 4, f8: 8, i1: 1, i2: 2, i4: 4, i8: 8, u1: 1, u2: 2, u4: 4, b1: 1 };
  const size = sizes[code];
  if (size === undefined) throw bad(`unsupported dtype ${descr} (float16/32/64, int8–64, uint8–32 and bool are)`);
  if (raw.byteLength < count * size) throw bad(`data holds ${raw.byteLength} bytes, the shape needs ${count * size}`);
  // Copy: the file's bytes are rarely aligned for a typed-array view.
  const copy = new Uint8Array(count * size);
  copy.set(raw.subarray(0, count * size));
  const buf = copy.buffer;
  switch (code) {
    case 'f4':
      return { dims, kind: 'f', data: new Float32Array(buf) };
    case 'f8':
      return { dims, kind: 'f', data: new Float64Array(buf) };
    case 'f2':
      return { dims, kind: 'f', data: Float32Array.from(new Uint16Array(buf), halfToFloat) };
    case 'i1':
      return { dims, kind: 'i', data: new Int8Array(buf) };
    case 'i2':
      return { dims, kind: 'i', data: Int32Array.from(new Int16Array(buf)) };
    case 'i4':
      return { dims, kind: 'i', data: new Int32Array(buf) };
    case 'i8':
      return { dims, kind: 'i', data: new BigInt64Array(buf) };
    case 'u1':
      return { dims, kind: 'u', data: new Uint8Array(buf) };
    case 'u2':
      return { dims, kind: 'u', data: Int32Array.from(new Uint16Array(buf)) };
    case 'u4':
      return { dims, kind: 'u', data: BigInt64Array.from(new Uint32Array(buf), (v) => BigInt(v)) };
    default:
      return { dims, kind: 'b', data: new Uint8Array(buf) };
  }
}

/** IEEE 754 binary16 → number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

// ---------------------------------------------------------------------------------------------
// .npz: a zip archive (stored or deflated entries, zip64 when numpy needed it) of NAME.npy files.
// https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT (4.3.12 central directory, 4.3.16 EOCD)

function readNpz(bytes: Uint8Array, file: string): TensorDataset {
  const bad = (why: string) => errors.dataInvalid(file, 1, `${file} is not a readable .npz archive: ${why}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw bad('no end-of-central-directory record');
  let entries = view.getUint16(eocd + 10, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (cdOffset === 0xffffffff || entries === 0xffff) {
    const locator = eocd - 20;
    if (locator < 0 || view.getUint32(locator, true) !== 0x07064b50) throw bad('zip64 locator missing');
    const eocd64 = Number(view.getBigUint64(locator + 8, true));
    entries = Number(view.getBigUint64(eocd64 + 32, true));
    cdOffset = Number(view.getBigUint64(eocd64 + 48, true));
  }
  const arrays: Record<string, HostTensor> = {};
  let at = cdOffset;
  for (let e = 0; e < entries; e++) {
    if (view.getUint32(at, true) !== 0x02014b50) throw bad(`bad central directory entry ${e}`);
    const method = view.getUint16(at + 10, true);
    let compressed = view.getUint32(at + 20, true);
    let uncompressed = view.getUint32(at + 24, true);
    const nameLen = view.getUint16(at + 28, true);
    const extraLen = view.getUint16(at + 30, true);
    const commentLen = view.getUint16(at + 32, true);
    let localOffset = view.getUint32(at + 42, true);
    const name = Buffer.from(bytes.subarray(at + 46, at + 46 + nameLen)).toString('utf8');
    // zip64 extended information: the 8-byte fields present are those whose 32-bit field is 0xffffffff.
    for (let x = at + 46 + nameLen; x < at + 46 + nameLen + extraLen; ) {
      const id = view.getUint16(x, true);
      const size = view.getUint16(x + 2, true);
      if (id === 0x0001) {
        let p = x + 4;
        if (uncompressed === 0xffffffff) (uncompressed = Number(view.getBigUint64(p, true))), (p += 8);
        if (compressed === 0xffffffff) (compressed = Number(view.getBigUint64(p, true))), (p += 8);
        if (localOffset === 0xffffffff) localOffset = Number(view.getBigUint64(p, true));
      }
      x += 4 + size;
    }
    at += 46 + nameLen + extraLen + commentLen;
    if (view.getUint32(localOffset, true) !== 0x04034b50) throw bad(`bad local header for ${name}`);
    const dataStart = localOffset + 30 + view.getUint16(localOffset + 26, true) + view.getUint16(localOffset + 28, true);
    const stored = bytes.subarray(dataStart, dataStart + compressed);
    let content: Uint8Array;
    if (method === 0) content = stored;
    else if (method === 8) content = inflateRawSync(stored);
    else throw bad(`entry ${name} uses compression method ${method} (stored and deflate are supported)`);
    if (content.byteLength !== uncompressed) throw bad(`entry ${name} inflates to ${content.byteLength} bytes, expected ${uncompressed}`);
    arrays[name.replace(/\.npy$/, '')] = parseNpy(content, `${file}:${name}`);
  }
  let labels: RawLabel[] | null = null;
  for (const key of ['labels', 'label']) {
    const l = arrays[key];
    if (!l) continue;
    // numpy label arrays are integer class indices (numbers, as labels.ts reads them).
    labels = Array.from(l.data as ArrayLike<number | bigint>, rawLabel);
    delete arrays[key];
  }
  // np.savez(file, array) names an unnamed array arr_0: feed it to the model's only input.
  const names = Object.keys(arrays);
  if (names.length === 1 && names[0] === 'arr_0') {
    arrays[UNNAMED_INPUT] = arrays.arr_0!;
    delete arrays.arr_0;
  }
  if (names.length === 0) throw errors.dataEmpty(file);
  const n = Object.values(arrays).map((a) => a.dims[0] ?? 1);
  if (new Set(n).size > 1) throw bad(`arrays disagree on the number of samples (first axis): ${Object.entries(arrays).map(([k, a]) => `${k} ${a.dims[0]}`).join(', ')}`);
  return { file, format: 'npz', records: [arrays], labels };
}

// ---------------------------------------------------------------------------------------------
// JSON lines of tensors.

function readTensorJsonLines(text: string, file: string): TensorDataset {
  const records: Record<string, HostTensor>[] = [];
  const labels: RawLabel[] = [];
  const lines: number[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw errors.dataInvalid(file, i + 1, `line ${i + 1} is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw errors.dataInvalid(file, i + 1, `line ${i + 1} is not a JSON object of tensors`);
    const record: Record<string, HostTensor> = {};
    let label: RawLabel = null;
    for (const [key, value] of Object.entries(obj)) {
      if (key === 'label' || key === 'labels') {
        label = rawLabel(value);
        continue;
      }
      // Strings (and nulls) are metadata such as {"split": "calib"}, not model inputs.
      if (typeof value === 'string' || value === null) continue;
      record[key] = nestedToTensor(value, (why) => errors.dataInvalid(file, i + 1, `line ${i + 1}, "${key}": ${why}`));
    }
    if (Object.keys(record).length === 0) throw errors.dataInvalid(file, i + 1, `line ${i + 1} holds no tensor (a key whose value is a nested list of numbers)`);
    records.push(record);
    labels.push(label);
    lines.push(i + 1);
  });
  if (records.length === 0) throw errors.dataEmpty(file);
  return { file, format: 'jsonl', records, labels: labels.some((l) => l !== null) ? labels : null, lines };
}

function nestedToTensor(value: unknown, bad: (why: string) => Error): HostTensor {
  const dims: number[] = [];
  for (let v = value; Array.isArray(v); v = v[0]) dims.push(v.length);
  if (dims.length === 0 && typeof value !== 'number') throw bad('expected a number or a nested list of numbers');
  const flat: number[] = [];
  let integral = true;
  const walk = (v: unknown, depth: number) => {
    if (depth === dims.length) {
      if (typeof v !== 'number' && typeof v !== 'boolean') throw bad(`expected a number, found ${JSON.stringify(v)}`);
      const x = Number(v);
      if (!Number.isInteger(x)) integral = false;
      flat.push(x);
      return;
    }
    if (!Array.isArray(v) || v.length !== dims[depth]) throw bad(`ragged nested list: expected ${dims[depth]} items at depth ${depth} (shape ${JSON.stringify(dims)})`);
    for (const x of v) walk(x, depth + 1);
  };
  walk(value, 0);
  // Integer data (token ids, masks) stays exact as int64; anything with a fraction is float32.
  if (integral) return { dims, kind: 'i', data: BigInt64Array.from(flat, (x) => BigInt(x)) };
  return { dims, kind: 'f', data: Float32Array.from(flat) };
}

export function describeTensorDataset(d: TensorDataset): string {
  const first = d.records[0] ?? {};
  return `${basename(d.file)} (${d.format}: ${Object.entries(first)
    .map(([k, t]) => `${k || '<input>'} ${JSON.stringify(t.dims)}`)
    .join(', ')})`;
}
