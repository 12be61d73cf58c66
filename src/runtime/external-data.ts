// Where a model's external data is, checked (https://github.com/onnx/onnx/blob/main/docs/ExternalData.md):
// each external tensor names a `location` relative to the model's folder, an `offset` and a `length`.
// The file must exist inside the folder (onnxruntime's rule, symbolic links followed), hold the span,
// and the span must be as long as the tensor's shape and type call for; anything else is an
// EXTERNAL_DATA_* error naming the tensor and the file, raised before a byte of data is read.
import { realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, posix, relative, sep, win32 } from 'node:path';
import { errors } from '../errors.ts';
import { forEachTensor, INLINE_SPAN_KEY } from '../onnx/model-skeleton.ts';
import { tensorDims } from '../onnx/tensor.ts';
import { DataType, type ModelProto, type TensorProto } from '../onnx/types.ts';

/** TensorProto.DataLocation.EXTERNAL */
export const EXTERNAL = 1;

/** Where the bytes of a tensor that is not in memory are: a checked file, an offset and a length. */
export interface DataSpan {
  path: string;
  offset: number;
  length: number;
}

export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === EXTERNAL || Boolean(t.externalData?.length);
}

export interface ExternalEntry {
  location: string;
  offset: number;
  length?: number;
  /** A span of the model file itself (a tensor readModelGraph left where it was). */
  inline: boolean;
}

export function externalEntry(t: TensorProto, model: string): ExternalEntry {
  const entries = new Map((t.externalData ?? []).map((e) => [e.key, e.value]));
  const location = entries.get('location');
  if (!location) throw errors.externalDataInvalid(model, t.name ?? '?', 'it is marked external but names no location');
  const number = (key: string) => {
    const v = entries.get(key);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw errors.externalDataInvalid(model, t.name ?? '?', `${key} "${v}" is not a byte count`);
    return n;
  };
  return { location, offset: number('offset') ?? 0, length: number('length'), inline: entries.get(INLINE_SPAN_KEY) === '1' };
}

/** Bytes of one element per data type, where it is fixed (https://onnx.ai/onnx/api/mapping.html). */
const ELEMENT_BYTES: Record<number, number> = {
  [DataType.FLOAT]: 4, [DataType.UINT8]: 1, [DataType.INT8]: 1, [DataType.UINT16]: 2, [DataType.INT16]: 2, [DataType.INT32]: 4,
  [DataType.INT64]: 8, [DataType.BOOL]: 1, [DataType.FLOAT16]: 2, [DataType.DOUBLE]: 8, [DataType.UINT32]: 4, [DataType.UINT64]: 8,
  14: 8, 15: 16, [DataType.BFLOAT16]: 2, 17: 1, 18: 1, 19: 1, 20: 1,
};
/** 4-bit types pack two elements a byte (INT4, UINT4, FLOAT4E2M1). */
const HALF_BYTE_TYPES = new Set([21, 22, 23]);

/** The bytes a tensor's shape and type call for, where the type has a fixed size. */
function expectedBytes(t: TensorProto): number | undefined {
  const n = tensorDims(t).reduce((a, b) => a * b, 1);
  const type = t.dataType ?? 0;
  if (HALF_BYTE_TYPES.has(type)) return Math.ceil(n / 2);
  const size = ELEMENT_BYTES[type];
  return size === undefined ? undefined : n * size;
}

/**
 * huggingface_hub's cache keeps each file of a snapshot as a link to ../../blobs/<hash> of the same
 * repository (https://huggingface.co/docs/huggingface_hub/guides/manage-cache): the `blobs` folder of
 * a model folder inside a snapshot, where links out of the folder may lead.
 */
function hubBlobsOf(dir: string): string | undefined {
  const m = /^(.*[/\\]models--[^/\\]+--[^/\\]+)[/\\]snapshots[/\\][0-9a-f]{40}(?:[/\\]|$)/.exec(dir);
  return m ? join(m[1]!, 'blobs') : undefined;
}

/** Whether `path` is strictly inside `folder`. */
export const inside = (path: string, folder: string) => {
  const rel = relative(folder, path);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
};

/**
 * The real path and size of the data file `location` names for `model`'s tensor `tensor`. The rules
 * are onnxruntime's (tensorprotoutils.cc ValidateExternalDataPath): a relative path, and the file it
 * resolves to — symbolic links followed — inside the model's folder. One exception: inside a Hugging
 * Face hub snapshot, links into the repository's own blobs/ (which is how the hub stores every file).
 * The file opened is the resolved one, so nothing outside those folders is ever read.
 */
async function resolveDataFile(model: string, tensor: string, location: string): Promise<{ path: string; size: number }> {
  if (posix.isAbsolute(location) || win32.isAbsolute(location)) throw errors.externalDataOutside(model, tensor, location, 'an absolute path');
  const rel = normalize(location);
  if (rel === '..' || rel.startsWith(`..${sep}`)) throw errors.externalDataOutside(model, tensor, location, "which leaves the model's folder");
  const dir = dirname(model);
  const path = join(dir, rel);
  let real: string;
  try {
    real = await realpath(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') throw errors.externalDataMissing(model, tensor, location, path);
    throw e;
  }
  const realDir = await realpath(dir);
  if (!inside(real, realDir)) {
    const blobs = hubBlobsOf(dir);
    const realBlobs = blobs ? await realpath(blobs).catch(() => undefined) : undefined;
    if (!realBlobs || !inside(real, realBlobs)) throw errors.externalDataOutside(model, tensor, location, `a symbolic link to ${real}, outside the model's folder`);
  }
  const st = await stat(real);
  if (!st.isFile()) throw errors.externalDataInvalid(model, tensor, `"${location}" is not a file`);
  return { path: real, size: st.size };
}

/**
 * Checks every external tensor of `model` (read from `file`, `size` bytes) and says where its bytes
 * are: the file exists inside the folder and holds offset + length bytes, and the length is what the
 * shape and type call for. Throws the first problem, before anything is read.
 */
export async function locateExternalData(model: ModelProto, file: string, size: number): Promise<Map<TensorProto, DataSpan>> {
  const files = new Map<string, Promise<{ path: string; size: number }>>();
  const self = { path: await realpath(file), size };
  const external: TensorProto[] = [];
  forEachTensor(model, (t) => {
    if (isExternal(t)) external.push(t);
  });
  const found = new Map<TensorProto, DataSpan>();
  for (const t of external) {
    const name = t.name ?? '?';
    const e = externalEntry(t, file);
    let data: { path: string; size: number };
    if (e.inline) data = self;
    else {
      if (!files.has(e.location)) files.set(e.location, resolveDataFile(file, name, e.location));
      data = await files.get(e.location)!;
    }
    const expected = expectedBytes(t);
    if (e.length !== undefined && expected !== undefined && e.length !== expected) {
      throw errors.externalDataInvalid(file, name, `length ${e.length} in "${e.location}", but its shape [${tensorDims(t).join(', ')}] of type ${t.dataType} takes ${expected} bytes`);
    }
    const length = e.length ?? expected ?? data.size - e.offset;
    if (length < 0 || e.offset + length > data.size) throw errors.externalDataTruncated(file, name, e.location, e.offset, Math.max(length, 0), data.size);
    found.set(t, { path: data.path, offset: e.offset, length });
  }
  return found;
}
