// Model files as onnx and onnxruntime read them: one protobuf, or the graph in `model.onnx` and large
// tensors in other files beside it — ONNX external data (https://github.com/onnx/onnx/blob/main/docs/ExternalData.md,
// IR.md "External Tensor Data"). An external tensor has data_location = EXTERNAL, no raw_data, and
// external_data entries `location` (a path relative to the model's folder), `offset` and `length` in
// bytes. Exporters name and lay out those files in their own ways: torch.onnx and Optimum write
// `model.onnx_data` or `model.onnx.data`, packed or with aligned offsets, onnx.save_model(
// all_tensors_to_one_file=False) one file per tensor; qrun reads whatever each tensor's `location`
// names. onnxruntime resolves `location` against the model file's folder, so such a model is loaded
// from its path, never from bytes.
//
// Every step reads and writes models here:
// - readModelGraph: the graph and its small tensors in memory; a tensor of 64 KiB or more stays in
//   its file (external data or the .onnx itself) as a checked reference. For steps that look at the
//   graph (inputs, outputs, nodes) or change it without touching the large weights.
// - readModelWithData: every tensor's bytes in memory, for steps that compute on weights.
// - writeModelFile: one file, or external data only where needed (protobuf's 2 GiB limit); tensors
//   still in their files are copied from there, so a model read by readModelGraph is written without
//   its weights ever being in memory.
// - copyModelFile, modelDataFiles, digestModelFile: a model as a file set (the .onnx and the data
//   files it names), for hf.load, the cache, Triton repositories and deliverables.
// A data file that is missing, too short, or outside the model's folder is an error naming the tensor
// and the file (src/errors.ts EXTERNAL_DATA_*), raised before any byte is read.
import { constants } from 'node:fs';
import { copyFile, link, mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, normalize, sep } from 'node:path';
import { errors } from '../errors.ts';
import { decodeModel, encodeModel } from '../onnx/model-io.ts';
import { ModelProtoType } from '../onnx/schema.ts';
import { encodeChunks } from '../onnx/fast-encode.ts';
import { forEachTensor, INLINE_SPAN_KEY, mapTensors, readModelSkeleton } from '../onnx/model-skeleton.ts';
import type { ModelProto, TensorProto } from '../onnx/types.ts';
import { rememberDigest, sha256, sha256File, WriteHash, type PathDigest } from '../util/hash.ts';
import { EXTERNAL, externalEntry, inside, isExternal, locateExternalData, type DataSpan } from './external-data.ts';

export { EXTERNAL };

/** Protobuf messages cannot exceed 2 GiB − 1 bytes (the C++ parser's limit, which onnxruntime uses). */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;
/** Room left for the graph's structure (nodes, names, small tensors) when deciding from the weights' size. */
const STRUCTURE_MARGIN = 64 * 2 ** 20;
/** IR.md: "Offset values SHOULD be multiples 4096 (page size) to enable mmap support." */
const ALIGNMENT = 4096;
/** Tensors of at least this many bytes stay in their files when only the graph is read. */
export const GRAPH_READ_INLINE_BELOW = 64 * 1024;
/** Bytes copied at a time from one file to another. */
const COPY_BLOCK = 8 * 2 ** 20;

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
  /**
   * The side file's name relative to the model's folder (default `<file name>.data`), or one name per
   * tensor (onnx.save_model(all_tensors_to_one_file=False) names each file after its tensor). A name
   * may hold folders (`weights/w.bin`); they are created.
   */
  location?: string | ((tensor: TensorProto) => string);
  /** Offsets of tensors larger than `alignAbove` bytes are multiples of this (default 4096; 1 packs them). */
  alignment?: number;
  /** Only tensors above this many bytes are aligned (default 0: all; onnx-ir aligns above 1 MiB). */
  alignAbove?: number;
}

export interface WrittenModel {
  /** Bytes of the .onnx file itself. */
  bytes: number;
  /** The side file's path, when there is exactly one (the default). */
  dataFile?: string;
  /** Every data file written, relative to the model's folder. */
  dataFiles: string[];
  /** Bytes in the data files (0 without any). */
  dataBytes: number;
  externalTensors: number;
}

/**
 * The spans of tensors read here and left in their files. Keyed by the TensorProto object, so a
 * tensor moved to another graph, or a model copied with spread, still knows where its bytes are.
 */
const spans = new WeakMap<TensorProto, DataSpan>();

/** Whether any tensor of the model lives in an external file (of the model's own, not spans of the .onnx). */
export function usesExternalData(model: ModelProto): boolean {
  let found = false;
  forEachTensor(model, (t) => {
    if (isExternal(t) && !t.externalData?.some((e) => e.key === INLINE_SPAN_KEY)) found = true;
  });
  return found;
}

/** Bytes of data the model's tensors hold, in memory or still in their files (what decides whether it fits in one file). */
export function rawDataBytes(model: ModelProto): number {
  let total = 0;
  forEachTensor(model, (t) => (total += bytesOf(t)));
  return total;
}

// ---- reading -------------------------------------------------------------------------------------

async function readWithSpans(file: string): Promise<ModelProto> {
  const handle = await open(file, 'r');
  let model: ModelProto;
  let size: number;
  try {
    size = (await handle.stat()).size;
    let bytes: Uint8Array;
    try {
      bytes = (await readModelSkeleton(handle, size, file, basename(file), GRAPH_READ_INLINE_BELOW)).bytes;
    } catch (e) {
      throw errors.onnxCorrupt(file, (e as Error).message);
    }
    model = decodeModel(bytes, file);
  } finally {
    await handle.close();
  }
  for (const [t, span] of await locateExternalData(model, file, size)) spans.set(t, span);
  return model;
}

/**
 * Reads a model's graph: nodes, inputs, outputs and tensors under 64 KiB in memory; larger tensors
 * stay in their files (the .onnx itself or its external data), checked to be there, as references
 * that readTensorData or writeModelFile resolve. Never encode such a model to bytes yourself:
 * onnxruntime cannot resolve the references from bytes (writeModelFile and sessionModel can).
 */
export async function readModelGraph(file: string): Promise<ModelProto> {
  return readWithSpans(file);
}

/**
 * Reads a model with every tensor's bytes in memory: external data is read from the files each
 * tensor's `location` names (checked first), so the rest of qrun sees one kind of tensor.
 */
export async function readModelWithData(file: string): Promise<ModelProto> {
  const model = await readWithSpans(file);
  await readTensorData(model);
  return model;
}

/** Brings the bytes of the model's tensors still in their files (all, or those `which` picks) into memory. */
export async function readTensorData(model: ModelProto, which: (t: TensorProto) => boolean = () => true): Promise<void> {
  const pending: [TensorProto, DataSpan][] = [];
  forEachTensor(model, (t) => {
    const span = spans.get(t);
    if (span && which(t)) pending.push([t, span]);
  });
  // File by file in offset order (reads that follow each other on disk), a few at a time: libuv's
  // thread pool reads them in parallel from the page cache.
  pending.sort(([, a], [, b]) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.offset - b.offset));
  const handles = new Map<string, Promise<FileHandle>>();
  try {
    let next = 0;
    const worker = async () => {
      while (next < pending.length) {
        const [t, span] = pending[next++]!;
        if (!handles.has(span.path)) handles.set(span.path, open(span.path, 'r'));
        const raw = Buffer.allocUnsafe(span.length);
        await readFully(await handles.get(span.path)!, raw, span.offset, span.path);
        t.rawData = raw;
        delete t.externalData;
        delete t.dataLocation;
        spans.delete(t);
      }
    };
    // Every worker done before the handles close, even when one failed.
    const failed = (await Promise.allSettled(Array.from({ length: 4 }, worker))).find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    await Promise.all([...handles.values()].map(async (h) => (await h.catch(() => undefined))?.close()));
  }
}

async function readFully(handle: FileHandle, into: Uint8Array, position: number, file: string): Promise<void> {
  for (let done = 0; done < into.byteLength; ) {
    const { bytesRead } = await handle.read(into, done, into.byteLength - done, position + done);
    if (bytesRead === 0) throw new Error(`${file} ended at byte ${position + done}, before the ${into.byteLength} bytes at ${position} (it changed while it was read)`);
    done += bytesRead;
  }
}

/**
 * Writes `bytes` at `position`; with `hash`, hashes them meanwhile (the write goes to libuv's thread
 * pool before the hashing starts, so the two overlap: only the bytes are shared, and both only read them).
 */
async function writeFully(handle: FileHandle, bytes: Uint8Array, position: number, hash?: WriteHash): Promise<void> {
  const writing = (async () => {
    for (let done = 0; done < bytes.byteLength; ) {
      const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done, position + done);
      done += bytesWritten;
    }
  })();
  try {
    hash?.update(bytes, position);
  } finally {
    await writing;
  }
}

/** Copies a span of another file into `handle` at `position`, a block at a time (hashed as written with `hash`). */
async function copySpan(span: DataSpan, handle: FileHandle, position: number, block: Buffer, hash?: WriteHash): Promise<void> {
  const from = await open(span.path, 'r');
  try {
    for (let done = 0; done < span.length; ) {
      const n = Math.min(block.byteLength, span.length - done);
      await readFully(from, block.subarray(0, n), span.offset + done, span.path);
      await writeFully(handle, block.subarray(0, n), position + done, hash);
      done += n;
    }
  } finally {
    await from.close();
  }
}

// ---- writing -------------------------------------------------------------------------------------

/** A tensor's bytes that are still in a file: the chunked encoder leaves them to the writer. */
class SpanBytes {
  constructor(readonly span: DataSpan) {}
  get length(): number {
    return this.span.length;
  }
}

/** raw_data in memory (a decoded tensor without raw_data has protobufjs's default, an empty array, instead). */
const inMemory = (t: TensorProto): t is TensorProto & { rawData: Uint8Array } => t.rawData instanceof Uint8Array;
const bytesOf = (t: TensorProto) => (inMemory(t) ? t.rawData.byteLength : (spans.get(t)?.length ?? 0));

/**
 * Writes `model` to `file`: one protobuf, or, when its weights would take it past protobuf's limit
 * (or `externalData: 'always'`), every initializer of at least `threshold` bytes in `<file>.data`
 * (or where `location` says; 4096-byte aligned offsets unless told otherwise) and the rest in `file`.
 * Weights go to disk straight from memory or from the file they are still in, never through a second
 * copy. `model` is not changed. Deterministic: the same model gives the same files.
 */
export async function writeModelFile(model: ModelProto, file: string, opts: WriteModelOptions = {}): Promise<WrittenModel> {
  const limit = opts.limit ?? PROTOBUF_LIMIT;
  const threshold = opts.threshold ?? 1024;
  forEachTensor(model, (t) => {
    if (isExternal(t) && !spans.has(t)) throw new Error(`tensor "${t.name}" names external data that was not read with its model (read models with readModelGraph or readModelWithData); this is a bug in qrun`);
  });
  const outside =
    opts.externalData === 'always' || rawDataBytes(model) + STRUCTURE_MARGIN > limit ? model.graph.initializer.filter((t) => bytesOf(t) >= threshold) : [];
  const dir = dirname(file);
  const alignment = opts.alignment ?? ALIGNMENT;
  const alignAbove = opts.alignAbove ?? 0;
  const locationOf = typeof opts.location === 'function' ? opts.location : () => (opts.location as string | undefined) ?? `${basename(file)}.data`;

  const written = new Map<TensorProto, TensorProto>();
  const ends = new Map<string, number>();
  const handles = new Map<string, FileHandle>();
  // Every file is hashed as it is written (in order, padding included), so the engine's digest of the
  // outputs does not read them back (src/util/hash.ts rememberDigest).
  const hashes = new Map<string, WriteHash>();
  const block = Buffer.allocUnsafe(COPY_BLOCK);
  let dataBytes = 0;
  try {
    for (const t of outside) {
      const location = locationOf(t);
      let handle = handles.get(location);
      if (!handle) {
        const path = join(dir, location);
        if (!inside(path, dir)) throw new Error(`data file "${location}" is outside ${dir}; this is a bug in qrun`);
        await mkdir(dirname(path), { recursive: true });
        handle = await open(path, 'w');
        handles.set(location, handle);
        hashes.set(location, new WriteHash());
        ends.set(location, 0);
      }
      const hash = hashes.get(location)!;
      const end = ends.get(location)!;
      const length = bytesOf(t);
      const start = alignment > 1 && length > alignAbove ? Math.ceil(end / alignment) * alignment : end;
      if (start > end) await writeFully(handle, new Uint8Array(start - end), end, hash);
      if (inMemory(t)) await writeFully(handle, t.rawData, start, hash);
      else await copySpan(spans.get(t)!, handle, start, block, hash);
      dataBytes += start + length - end;
      ends.set(location, start + length);
      const { rawData: _r, externalData: _e, dataLocation: _d, ...rest } = t;
      written.set(t, {
        ...rest,
        dataLocation: EXTERNAL,
        externalData: [
          { key: 'location', value: location.split(sep).join('/') },
          { key: 'offset', value: String(start) },
          { key: 'length', value: String(length) },
        ],
      });
    }
  } finally {
    await Promise.all([...handles.values()].map((h) => h.close()));
  }
  for (const [location, hash] of hashes) await rememberDigest(join(dir, location), hash.digest());
  // Tensors still in their files that stay in the .onnx: their bytes are copied in by the writer.
  const out = mapTensors(model, (t) => {
    const moved = written.get(t);
    if (moved) return moved;
    const span = spans.get(t);
    if (!span) return t;
    const { externalData: _e, dataLocation: _d, ...rest } = t;
    return { ...rest, rawData: new SpanBytes(span) as unknown as Uint8Array };
  });
  const chunks = encodeChunks(out as unknown as Record<string, unknown>, ModelProtoType, GRAPH_READ_INLINE_BELOW);
  const bytes = chunks.reduce((a, c) => a + (c as { length: number }).length, 0);
  if (bytes > PROTOBUF_LIMIT) {
    throw new Error(`${file}: ${outside.length ? 'even with its initializers in external data ' : ''}the model takes ${bytes} bytes, above protobuf's 2 GiB limit`);
  }
  const handle = await open(file, 'w');
  const hash = new WriteHash();
  try {
    let position = 0;
    for (const c of chunks) {
      if (c instanceof SpanBytes) await copySpan(c.span, handle, position, block, hash);
      else await writeFully(handle, c as Uint8Array, position, hash);
      position += (c as { length: number }).length;
    }
  } finally {
    await handle.close();
  }
  await rememberDigest(file, hash.digest());
  const dataFiles = [...handles.keys()].sort();
  return { bytes, dataFile: dataFiles.length === 1 ? join(dir, dataFiles[0]!) : undefined, dataFiles, dataBytes, externalTensors: outside.length };
}

// ---- a model as a set of files -------------------------------------------------------------------

export interface ModelDataFile {
  /** As the model names it, normalised (relative to the model's folder). */
  location: string;
  /** The checked real path. */
  path: string;
}

/**
 * The data files `file` names, checked (inside its folder, long enough for every tensor): what must
 * travel with it for it to load elsewhere, each at its `location` beside the copy. Reads the graph only.
 */
export async function modelDataFiles(file: string): Promise<ModelDataFile[]> {
  const model = await readModelGraph(file);
  const found = new Map<string, string>();
  forEachTensor(model, (t) => {
    if (!isExternal(t)) return;
    const e = externalEntry(t, file);
    if (!e.inline) found.set(normalize(e.location), spans.get(t)!.path);
  });
  return [...found].sort(([a], [b]) => (a < b ? -1 : 1)).map(([location, path]) => ({ location, path }));
}

/** Bytes of a model as deployed: the .onnx file and every data file it names. */
export async function modelFileBytes(file: string): Promise<number> {
  let total = (await stat(file)).size;
  for (const f of await modelDataFiles(file)) total += (await stat(f.path)).size;
  return total;
}

/** The data files' locations only (see modelDataFiles). */
export async function externalDataLocations(file: string): Promise<string[]> {
  return (await modelDataFiles(file)).map((f) => f.location);
}

/**
 * Copies a model and the data files it names to `to` (a .onnx path): the copy loads from there as
 * the original did. Copy-on-write where the file system can (a multi-GB model costs no space then).
 * Returns the data files' locations.
 */
export async function copyModelFile(from: string, to: string): Promise<string[]> {
  const data = await modelDataFiles(from);
  await mkdir(dirname(to), { recursive: true });
  await copyFile(from, to, constants.COPYFILE_FICLONE);
  for (const f of data) {
    const target = join(dirname(to), f.location);
    await mkdir(dirname(target), { recursive: true });
    await copyFile(f.path, target, constants.COPYFILE_FICLONE);
  }
  return data.map((f) => f.location);
}

/**
 * Content digest of a model as a file set: the .onnx file's sha256 when it holds everything (the
 * same as any file's), else the sha256 of "digest  name" lines, as a folder's digest is made
 * (src/util/hash.ts): the .onnx as `<model>` (its own name does not matter to loading it, so a copy
 * renamed digests the same), and each data file by the location the model names it by. A changed
 * data file is a changed model; one that is missing, short or outside the folder is an error.
 */
export async function digestModelFile(file: string): Promise<PathDigest> {
  const data = await modelDataFiles(file);
  const own = await sha256File(file);
  let size = (await stat(file)).size;
  if (data.length === 0) return { sha256: own, size };
  const lines = [`${own}  <model>\n`];
  for (const f of data) {
    lines.push(`${await sha256File(f.path)}  ${f.location.split(sep).join('/')}\n`);
    size += (await stat(f.path)).size;
  }
  return { sha256: sha256(lines.join('')), size };
}

/** Hard-links `from` to `to` (no bytes copied), or copies it where links cannot be made (another device). */
async function linkOrCopy(from: string, to: string): Promise<void> {
  await link(from, to).catch(() => copyFile(from, to, constants.COPYFILE_FICLONE));
}

/**
 * Writes only the .onnx of `model` for onnxruntime to load: tensors still in their files stay there,
 * as external data in hard links to those files placed beside `file` (`<name>.ref<i>`), so nothing is
 * copied and onnxruntime maps aligned data straight from the page cache. Not an artifact: the links
 * share the source files' bytes. Tensors in memory are written into the .onnx.
 */
async function writeModelReferencing(model: ModelProto, file: string): Promise<void> {
  const dir = dirname(file);
  const linked = new Map<string, string>();
  const out = mapTensors(model, (t) => {
    const span = spans.get(t);
    if (!span) return t;
    let location = linked.get(span.path);
    if (!location) linked.set(span.path, (location = `${basename(file)}.ref${linked.size}`));
    const { rawData: _r, externalData: _e, dataLocation: _d, ...rest } = t;
    return {
      ...rest,
      dataLocation: EXTERNAL,
      externalData: [
        { key: 'location', value: location },
        { key: 'offset', value: String(span.offset) },
        { key: 'length', value: String(span.length) },
      ],
    };
  });
  for (const [path, location] of linked) await linkOrCopy(path, join(dir, location));
  const handle = await open(file, 'w');
  try {
    let position = 0;
    for (const c of encodeChunks(out as unknown as Record<string, unknown>, ModelProtoType, GRAPH_READ_INLINE_BELOW)) {
      await writeFully(handle, c as Uint8Array, position);
      position += (c as Uint8Array).byteLength;
    }
  } finally {
    await handle.close();
  }
}

/**
 * The model as onnxruntime can take it (createSession's argument): its bytes when every tensor is in
 * memory and it fits in one protobuf; else a path in `dir` (a fresh folder of its own): the .onnx
 * with links to the files its other tensors are still in, or, when even the tensors in memory pass
 * the limit, the model written with external data.
 */
export async function sessionModel(model: ModelProto, dir: string, name = 'model.onnx'): Promise<Uint8Array | string> {
  let held = 0;
  let left = 0;
  forEachTensor(model, (t) => {
    if (inMemory(t)) held += t.rawData.byteLength;
    else if (spans.has(t)) left++;
  });
  const fits = held + STRUCTURE_MARGIN <= PROTOBUF_LIMIT;
  if (fits && left === 0) return encodeModel(model);
  const path = join(dir, name);
  await mkdir(dir, { recursive: true });
  if (fits) await writeModelReferencing(model, path);
  else await writeModelFile(model, path);
  return path;
}
