// Model files as onnx and onnxruntime read them: one protobuf, or — for models over protobuf's 2 GiB
// message limit — the graph in `model.onnx` and the large initializers in a side file
// `model.onnx.data` (ONNX external data: https://github.com/onnx/onnx/blob/main/docs/ExternalData.md
// and IR.md "External Tensor Data"). A tensor stored outside has data_location = EXTERNAL, no
// raw_data, and external_data entries `location` (a path relative to the model's folder), `offset`
// and `length` in bytes. onnx.save_model(save_as_external_data=True) writes the same layout, and
// onnxruntime resolves `location` against the model file's folder (so such a model must be loaded
// from its path, never from bytes).
import { existsSync } from 'node:fs';
import { link, open, readFile, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { decodeModel, encodeModel } from '../onnx/model-io.ts';
import type { ModelProto, TensorProto } from '../onnx/types.ts';

/** Protobuf messages cannot exceed 2 GiB − 1 bytes (the C++ parser's limit, which onnxruntime uses). */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;
/** TensorProto.DataLocation.EXTERNAL */
export const EXTERNAL = 1;
/** Room left for the graph's structure (nodes, names, small tensors) when deciding from the weights' size. */
const STRUCTURE_MARGIN = 64 * 2 ** 20;
/** IR.md: "Offset values SHOULD be multiples 4096 (page size) to enable mmap support." */
const ALIGNMENT = 4096;

export interface WriteModelOptions {
  /**
   * `auto` (default): one file unless the weights would take the model past `limit`; `always`:
   * external data whatever the size (tests use it with a small threshold).
   */
  externalData?: 'auto' | 'always';
  /** Initializers of at least this many bytes go to the side file (onnx's size_threshold, default 1024). */
  threshold?: number;
  /** The single-file limit `auto` decides against (PROTOBUF_LIMIT; tests lower it). */
  limit?: number;
}

export interface WrittenModel {
  /** Bytes of the .onnx file itself. */
  bytes: number;
  /** The side file's path, when there is one. */
  dataFile?: string;
  /** Bytes in the side file (0 without one). */
  dataBytes: number;
  externalTensors: number;
}

function isExternal(t: TensorProto): boolean {
  return t.dataLocation === EXTERNAL || Boolean(t.externalData?.length);
}

/** Every TensorProto that holds model data: initializers and Constant nodes' `value`. */
function dataTensors(model: ModelProto): TensorProto[] {
  const out = [...model.graph.initializer];
  for (const n of model.graph.node) for (const a of n.attribute) if (a.t) out.push(a.t);
  return out;
}

/** Whether any tensor of the model lives in an external file. */
export function usesExternalData(model: ModelProto): boolean {
  return dataTensors(model).some(isExternal);
}

/**
 * Reads a model file. Tensors stored as external data are read from their files into raw_data, so
 * the rest of qrun sees one kind of tensor; `location` must stay inside the model's folder (as onnx's
 * checker requires).
 */
export async function readModelFile(file: string): Promise<ModelProto> {
  const handle = await open(file, 'r');
  let model: ModelProto;
  try {
    const bytes = await handle.readFile();
    model = decodeModel(bytes, file);
  } finally {
    await handle.close();
  }
  const external = dataTensors(model).filter(isExternal);
  if (external.length === 0) return model;
  const dir = dirname(file);
  const handles = new Map<string, Awaited<ReturnType<typeof open>>>();
  try {
    for (const t of external) {
      const info = externalInfo(t, file);
      const path = join(dir, info.location);
      let h = handles.get(path);
      if (!h) {
        if (!existsSync(path)) throw new Error(`${file}: tensor "${t.name}" has its data in ${info.location}, which is not beside the model (${path})`);
        h = await open(path, 'r');
        handles.set(path, h);
      }
      const length = info.length ?? (await h.stat()).size - info.offset;
      const raw = Buffer.allocUnsafe(length);
      for (let done = 0; done < length; ) {
        const { bytesRead } = await h.read(raw, done, length - done, info.offset + done);
        if (bytesRead === 0) throw new Error(`${file}: ${info.location} ends before the ${length} bytes of tensor "${t.name}" at offset ${info.offset}`);
        done += bytesRead;
      }
      t.rawData = raw;
      delete t.externalData;
      delete t.dataLocation;
    }
  } finally {
    await Promise.all([...handles.values()].map((h) => h.close()));
  }
  return model;
}

function externalInfo(t: TensorProto, file: string): { location: string; offset: number; length?: number } {
  const entries = new Map((t.externalData ?? []).map((e) => [e.key, e.value]));
  const location = entries.get('location');
  if (!location) throw new Error(`${file}: tensor "${t.name}" is marked external but names no location`);
  const normal = normalize(location);
  if (isAbsolute(location) || normal === '..' || normal.startsWith(`..${sep}`)) {
    throw new Error(`${file}: tensor "${t.name}" has its data at "${location}", outside the model's folder`);
  }
  const number = (key: string) => {
    const v = entries.get(key);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${file}: tensor "${t.name}" has external_data ${key} "${v}"`);
    return n;
  };
  return { location: normal, offset: number('offset') ?? 0, length: number('length') };
}

/**
 * The files (relative to the model's folder, normalised) that hold the model's external data: what
 * must travel with `file` for it to load elsewhere. Reads and decodes the model, without its data.
 */
export async function externalDataLocations(file: string): Promise<string[]> {
  const model = decodeModel(await readFile(file), file);
  const locations = new Set<string>();
  for (const t of dataTensors(model)) if (isExternal(t)) locations.add(externalInfo(t, file).location);
  return [...locations].sort();
}

/** Bytes of raw data the model's tensors hold (what decides whether it fits in one file). */
export function rawDataBytes(model: ModelProto): number {
  return dataTensors(model).reduce((a, t) => a + (t.rawData?.byteLength ?? 0), 0);
}

/**
 * Writes `model` to `file`: one protobuf, or, when its weights would take it past protobuf's limit
 * (or `externalData: 'always'`), every initializer of at least `threshold` bytes in `<file>.data`
 * (4096-byte aligned offsets) and the rest in `file`. The side file is written straight from each
 * tensor's bytes, never through the encoder. `model` is not changed. Deterministic: the same model
 * gives the same two files.
 */
export async function writeModelFile(model: ModelProto, file: string, opts: WriteModelOptions = {}): Promise<WrittenModel> {
  const limit = opts.limit ?? PROTOBUF_LIMIT;
  const threshold = opts.threshold ?? 1024;
  const outside = opts.externalData === 'always' || rawDataBytes(model) + STRUCTURE_MARGIN > limit ? model.graph.initializer.filter((t) => !isExternal(t) && (t.rawData?.byteLength ?? 0) >= threshold) : [];
  if (outside.length === 0) {
    const bytes = encodeModel(model);
    await writeFile(file, bytes);
    return { bytes: bytes.byteLength, dataBytes: 0, externalTensors: 0 };
  }
  const location = `${basename(file)}.data`;
  const dataFile = join(dirname(file), location);
  const handle = await open(dataFile, 'w');
  let offset = 0;
  const moved = new Map<TensorProto, TensorProto>();
  try {
    for (const t of outside) {
      const raw = t.rawData!;
      const start = Math.ceil(offset / ALIGNMENT) * ALIGNMENT;
      if (start > offset) await handle.write(new Uint8Array(start - offset), 0, start - offset, offset);
      for (let done = 0; done < raw.byteLength; ) {
        const { bytesWritten } = await handle.write(raw, done, raw.byteLength - done, start + done);
        done += bytesWritten;
      }
      offset = start + raw.byteLength;
      const { rawData: _, ...rest } = t;
      moved.set(t, {
        ...rest,
        dataLocation: EXTERNAL,
        externalData: [
          { key: 'location', value: location },
          { key: 'offset', value: String(start) },
          { key: 'length', value: String(raw.byteLength) },
        ],
      });
    }
  } finally {
    await handle.close();
  }
  const graph = { ...model.graph, initializer: model.graph.initializer.map((t) => moved.get(t) ?? t) };
  const bytes = encodeModel({ ...model, graph });
  if (bytes.byteLength > PROTOBUF_LIMIT) throw new Error(`${file}: even with its initializers in ${location} the graph takes ${bytes.byteLength} bytes, above protobuf's 2 GiB limit`);
  await writeFile(file, bytes);
  return { bytes: bytes.byteLength, dataFile, dataBytes: offset, externalTensors: outside.length };
}

/**
 * A path onnxruntime can load `bytes` from when the model keeps data in external files: onnxruntime
 * resolves `location` against the model file's folder, and a model handed over as bytes has none.
 * Writes `bytes` as `name` in `dir` and links (hard link, else symbolic) each external file of the
 * original model beside it. Returns undefined when the model has no external data (use the bytes).
 */
export async function loadablePath(model: ModelProto, bytes: Uint8Array, originalFile: string, dir: string, name = 'model.onnx'): Promise<string | undefined> {
  const locations = new Set<string>();
  for (const t of dataTensors(model)) if (isExternal(t)) locations.add(externalInfo(t, originalFile).location);
  if (locations.size === 0) return undefined;
  const path = join(dir, name);
  await writeFile(path, bytes);
  for (const location of locations) {
    if (location.includes(sep)) throw new Error(`${originalFile}: external data in a subfolder (${location}) is not supported here`);
    const from = join(dirname(originalFile), location);
    const to = join(dir, location);
    if (existsSync(to)) continue;
    await link(from, to).catch(() => symlink(from, to));
  }
  return path;
}
