// Batches of model feeds from a data set, whatever its form: token ids from hf.load (text) or tensors
// from a .npy/.npz/.jsonl file (src/data/tensor-dataset.ts). calibrate, sensitivity and smoothing
// iterate these; a batch holds samples of one shape only (no padding, so statistics are exact).
// A model whose graph fixes its input dims (exported with batch 1 and sequence 128, say) gets
// batches of exactly those dims: see fixedInputDims.
import ort from 'onnxruntime-node';
import { errors } from '../errors.ts';
import { DataType, toNumber, type ModelProto } from '../onnx/types.ts';
import { batchesByLength, encoderFeeds, graphInputs } from '../runtime/feeds.ts';
import type { RawLabel } from './labels.ts';
import { readTokenizedDataset, type TokenizedDataset } from './tokenized-dataset.ts';
import { isTensorDataFile, readTensorDataset, UNNAMED_INPUT, type HostArray, type HostTensor, type TensorDataset } from './tensor-dataset.ts';

export interface ModelBatch {
  /** Sample indices in the data set's order, one per row of the batch. */
  indices: number[];
  /** Builds the feeds (lazily, so only one batch is in memory at a time). */
  feeds(): Record<string, ort.Tensor>;
}

export interface SampleBatches {
  samples: number;
  /** Each sample's label as the data writes it; map to classes with src/data/labels.ts. */
  labels: RawLabel[];
  /** The 1-based line of each sample's label in its data file, where the file has lines. */
  labelLines: (number | undefined)[];
  /** The file the labels were read from, when the batches read it (tensor data). */
  labelFile?: string;
  batches: ModelBatch[];
  /** What fitting the data to the model's fixed input dims did (padding, batch size; cutting samples is a warning), for the step to log. */
  notes?: { level: 'info' | 'warn'; message: string }[];
}

/**
 * The input dims a model's graph fixes: a number where every input that gives the axis a size gives
 * it this one (dim_value), undefined where the axis is free (dim_param, or no shape). onnxruntime
 * refuses any other size ("Got invalid dimensions"). `sequence` is axis 1 of rank-2 inputs (token ids).
 */
export interface FixedInputDims {
  batch?: number;
  sequence?: number;
  /** Each input's dims as the graph writes them, for messages: input_ids [1, 128]. */
  described: string;
}

export function fixedInputDims(model: ModelProto): FixedInputDims {
  const inits = new Set(model.graph.initializer.map((t) => t.name ?? ''));
  const inputs = model.graph.input.filter((i) => !inits.has(i.name));
  const dimsOf = (i: (typeof inputs)[number]) =>
    (i.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Object.hasOwn(d, 'dimValue') && d.dimValue !== undefined && d.dimValue !== null && toNumber(d.dimValue) > 0 ? toNumber(d.dimValue) : '?'));
  const axis = (k: number, rank?: number) => {
    const sizes = new Set(inputs.map(dimsOf).filter((d) => rank === undefined || d.length === rank).map((d) => d[k]).filter((v): v is number => typeof v === 'number'));
    if (sizes.size > 1) throw errors.usage(`the model's inputs disagree on the size of axis ${k}: ${inputs.map((i) => `${i.name} [${dimsOf(i).join(', ')}]`).join(', ')}`, 'export the model again with one size (or a free dim) per axis');
    return [...sizes][0];
  };
  return { batch: axis(0), sequence: axis(1, 2), described: inputs.map((i) => `${i.name} [${dimsOf(i).join(', ')}]`).join(', ') };
}

/**
 * `indices` filled up to `size` rows by repeating them: the rows a fixed-batch model must be fed.
 * The batch's `indices` still list each sample once, so readers of the outputs ignore the copies;
 * calibration sees them twice, which moves no min/max and weighs a histogram by at most one batch.
 */
function fillRows(indices: number[], size: number | undefined): number[] {
  if (size === undefined || indices.length >= size) return indices;
  return Array.from({ length: size }, (_, k) => indices[k % indices.length]!);
}

export interface ModelInputInfo {
  name: string;
  elemType: number;
  /** Declared rank, when the graph gives a shape. */
  rank?: number;
}

export function modelInputs(model: ModelProto): ModelInputInfo[] {
  const inits = new Set(model.graph.initializer.map((t) => t.name ?? ''));
  return model.graph.input
    .filter((i) => !inits.has(i.name))
    .map((i) => ({ name: i.name, elemType: i.type?.tensorType?.elemType ?? DataType.FLOAT, rank: i.type?.tensorType?.shape?.dim.length }));
}

/**
 * Token-id batches. Unpadded (default): samples of one length per batch, exact statistics for
 * calibration. `pad`: samples sorted by length and cut into full batches, right-padded with the
 * attention mask at 0 — far fewer runs for evaluation, where FP32 and the candidate see the same feeds.
 */
export function tokenizedBatches(model: ModelProto, dataset: TokenizedDataset, maxBatch: number, limit = 0, pad = false): SampleBatches {
  const samples = limit > 0 ? dataset.samples.slice(0, limit) : dataset.samples;
  const infos = graphInputs(model.graph.input, new Set(model.graph.initializer.map((t) => t.name ?? '')));
  // A fixed sequence length: every sample is padded (attention mask 0) or cut to it, as the model
  // will be fed when deployed, so all samples have one length and unpadded batching needs no change.
  const fixed = fixedInputDims(model);
  const L = fixed.sequence;
  const ids = (i: number) => (L === undefined ? samples[i]!.ids : samples[i]!.ids.slice(0, L));
  const batchSize = fixed.batch ?? maxBatch;
  const lengths = samples.map((s) => (L === undefined ? s.ids.length : L));
  const groups = pad ? paddedBatches(lengths, batchSize) : batchesByLength(lengths, batchSize);
  // Token types where the data set has them (question + context pairs), cut like the ids.
  const hasTypes = samples.some((s) => s.typeIds);
  const batches = groups.map((indices) => ({
    indices,
    feeds: () => {
      const rows = fillRows(indices, fixed.batch);
      const types = hasTypes ? rows.map((i) => (L === undefined ? samples[i]!.typeIds : samples[i]!.typeIds?.slice(0, L))) : undefined;
      return encoderFeeds(infos, rows.map(ids), dataset.padId, L, types);
    },
  }));
  const notes: NonNullable<SampleBatches['notes']> = [];
  if (L !== undefined) {
    const cut = samples.filter((s) => s.ids.length > L).length;
    const message = `the model's inputs fix the sequence at ${L} tokens (${fixed.described}): samples are padded to ${L}${cut ? `, and ${cut} of ${samples.length} longer ones cut to ${L}` : ''}`;
    notes.push({ level: cut ? 'warn' : 'info', message });
  }
  if (fixed.batch !== undefined && fixed.batch !== maxBatch) notes.push({ level: 'info', message: `the model's inputs fix the batch at ${fixed.batch} (${fixed.described}): batches of ${fixed.batch} instead of ${maxBatch}` });
  return { samples: samples.length, labels: samples.map((s) => s.label), labelLines: samples.map((s) => s.line), batches, ...(notes.length ? { notes } : {}) };
}

function paddedBatches(lengths: number[], maxBatch: number): number[][] {
  const order = lengths.map((len, i) => [len, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, i]) => i);
  const out: number[][] = [];
  for (let at = 0; at < order.length; at += maxBatch) out.push(order.slice(at, at + maxBatch));
  return out;
}

/** One sample: for each model input, a view of `count`=1 slice of a record's tensor. */
interface SampleRef {
  record: number;
  /** Row along the record's batch axis, or -1 when the record's tensors have no batch axis. */
  row: number;
  /** Per-sample dims (without batch axis), joined: the grouping key. */
  key: string;
}

/**
 * Splits a tensor data set into samples and groups samples of equal shapes into batches. Names are
 * matched to the model's inputs; a nameless array (.npy) goes to the model's only input.
 */
export function tensorBatches(model: ModelProto, dataset: TensorDataset, maxBatch: number, limit = 0): SampleBatches {
  const inputs = modelInputs(model);
  const byName = new Map(inputs.map((i) => [i.name, i]));
  const fail = (why: string) => errors.usage(`tensor data ${dataset.file}: ${why}`, `the model's inputs: ${inputs.map((i) => `${i.name} (rank ${i.rank ?? '?'})`).join(', ')}`);
  const records = dataset.records.map((r) => {
    const out: Record<string, HostTensor> = {};
    for (const [k, t] of Object.entries(r)) {
      if (k === UNNAMED_INPUT) {
        if (inputs.length !== 1) throw fail('an unnamed array (.npy, or np.savez without names) needs a model with exactly one input; save an .npz with one array per input name');
        out[inputs[0]!.name] = t;
      } else if (byName.has(k)) out[k] = t;
      else throw fail(`"${k}" is not a model input`);
    }
    for (const i of inputs) if (!out[i.name]) throw fail(`no data for the model input "${i.name}"`);
    return out;
  });

  const refs: SampleRef[] = [];
  const labels: RawLabel[] = [];
  const labelLines: (number | undefined)[] = [];
  records.forEach((r, ri) => {
    // npy/npz: the first axis is the sample axis. jsonl: a line is one sample, unless its tensors have
    // the model input's full rank, in which case its first axis is a batch axis.
    const batched =
      dataset.format !== 'jsonl' ||
      inputs.every((i) => i.rank !== undefined && r[i.name]!.dims.length === i.rank);
    const rows = batched ? new Set(inputs.map((i) => r[i.name]!.dims[0] ?? 1)) : new Set([1]);
    if (rows.size > 1) throw fail(`record ${ri + 1}: inputs disagree on the batch size (${[...rows].join(' vs ')})`);
    const n = [...rows][0]!;
    for (let row = 0; row < n; row++) {
      const key = inputs.map((i) => (batched ? r[i.name]!.dims.slice(1) : r[i.name]!.dims).join('x')).join('|');
      refs.push({ record: ri, row: batched ? row : -1, key });
      labels.push(dataset.labels ? (dataset.labels[dataset.format === 'jsonl' ? ri : refs.length - 1] ?? null) : null);
      labelLines.push(dataset.lines?.[ri]);
    }
  });
  const used = limit > 0 ? refs.slice(0, limit) : refs;
  const usedLabels = labels.slice(0, used.length);

  // Group by shape, in order of first appearance; within a group keep data order.
  const groups = new Map<string, number[]>();
  used.forEach((s, i) => {
    const g = groups.get(s.key);
    if (g) g.push(i);
    else groups.set(s.key, [i]);
  });
  const batches: ModelBatch[] = [];
  // A fixed batch dim: batches of exactly that many rows (the other dims are the data's own).
  const fixedBatch = fixedInputDims(model).batch;
  const batchSize = fixedBatch ?? maxBatch;
  for (const members of groups.values()) {
    for (let at = 0; at < members.length; at += batchSize) {
      const indices = members.slice(at, at + batchSize);
      batches.push({
        indices,
        feeds: () => {
          const feeds: Record<string, ort.Tensor> = {};
          const rows = fillRows(indices, fixedBatch);
          for (const input of inputs) {
            const parts = rows.map((i) => {
              const s = used[i]!;
              const t = records[s.record]![input.name]!;
              return s.row < 0 ? { t, dims: t.dims, offset: 0 } : sliceRow(t, s.row);
            });
            const sampleDims = parts[0]!.dims;
            const size = sampleDims.reduce((a, b) => a * b, 1);
            feeds[input.name] = stackToOrt(input, parts.map((p) => ({ data: p.t.data, offset: p.offset })), size, [rows.length, ...sampleDims]);
          }
          return feeds;
        },
      });
    }
  }
  const notes = fixedBatch !== undefined && fixedBatch !== maxBatch ? [{ level: 'info' as const, message: `the model's inputs fix the batch at ${fixedBatch}: batches of ${fixedBatch} instead of ${maxBatch}` }] : [];
  return { samples: used.length, labels: usedLabels, labelLines: labelLines.slice(0, used.length), labelFile: dataset.file, batches, ...(notes.length ? { notes } : {}) };
}

function sliceRow(t: HostTensor, row: number): { t: HostTensor; dims: number[]; offset: number } {
  const dims = t.dims.slice(1);
  const size = dims.reduce((a, b) => a * b, 1);
  return { t, dims, offset: row * size };
}

/** Copies the rows into one tensor of the element type the model input declares. */
function stackToOrt(input: ModelInputInfo, rows: { data: HostArray; offset: number }[], size: number, dims: number[]): ort.Tensor {
  const n = rows.length * size;
  const read = (data: HostArray, k: number): number => Number(data[k]!);
  switch (input.elemType) {
    case DataType.FLOAT: {
      const out = new Float32Array(n);
      rows.forEach((r, b) => {
        for (let k = 0; k < size; k++) out[b * size + k] = read(r.data, r.offset + k);
      });
      return new ort.Tensor('float32', out, dims);
    }
    case DataType.INT64: {
      const out = new BigInt64Array(n);
      rows.forEach((r, b) => {
        for (let k = 0; k < size; k++) {
          const v = r.data[r.offset + k]!;
          out[b * size + k] = typeof v === 'bigint' ? v : BigInt(Math.round(v));
        }
      });
      return new ort.Tensor('int64', out, dims);
    }
    case DataType.INT32: {
      const out = new Int32Array(n);
      rows.forEach((r, b) => {
        for (let k = 0; k < size; k++) out[b * size + k] = read(r.data, r.offset + k);
      });
      return new ort.Tensor('int32', out, dims);
    }
    case DataType.BOOL:
    case DataType.UINT8: {
      const out = new Uint8Array(n);
      rows.forEach((r, b) => {
        for (let k = 0; k < size; k++) out[b * size + k] = read(r.data, r.offset + k);
      });
      return new ort.Tensor(input.elemType === DataType.BOOL ? 'bool' : 'uint8', out, dims);
    }
    default:
      throw errors.usage(`model input "${input.name}" has element type ${input.elemType}, which tensor data sets cannot feed yet (float32, int64, int32, uint8, bool can)`);
  }
}

/** Splits a [batch, …] output into one row per sample. */
export function rowsOf(t: ort.Tensor): Float32Array[] {
  const batch = t.dims[0] ?? 1;
  const data = t.data as Float32Array;
  const width = data.length / Math.max(1, batch);
  return Array.from({ length: batch }, (_, b) => data.slice(b * width, (b + 1) * width));
}


export interface SampleSpec {
  /** Data set name under the recipe's `data:` (tokenized by hf.load unless its file holds tensors). */
  name: string;
  /** A tensor file (.npy/.npz/.jsonl) given directly, or the data set's own file when it holds tensors. */
  tensorFile?: string;
  /** hf.load's `datasets/` folder (tokenized text data sets). */
  datasetsDir?: string;
  batchSize: number;
  /** Use only the first N samples (0 = all). */
  limit?: number;
  /** Pad token-id batches (evaluation only; see tokenizedBatches). */
  pad?: boolean;
}

/** Opens whichever form the data set has, as batches for `model`. */
export async function loadSampleBatches(model: ModelProto, spec: SampleSpec): Promise<SampleBatches> {
  if (spec.tensorFile) return tensorBatches(model, await readTensorDataset(spec.tensorFile), spec.batchSize, spec.limit);
  if (!spec.datasetsDir) throw errors.usage(`data set "${spec.name}" is neither a tensor file nor tokenized text (no hf.load data sets are wired)`, 'add hf.load before this step, or give `tensors: FILE.npz`');
  return tokenizedBatches(model, await readTokenizedDataset(spec.datasetsDir, spec.name), spec.batchSize, spec.limit, spec.pad);
}

/**
 * The tensor file a step should read, from its options and the recipe: an explicit `tensors:` path, or
 * the recipe's data set `name` when its file holds tensors. Used by plugins' sources().
 */
export function tensorSourceFor(name: string, tensors: string | undefined, recipe: { dir: string; data: Record<string, { path: string }> }, resolvePath: (dir: string, p: string) => string): string | undefined {
  if (tensors) return resolvePath(recipe.dir, tensors);
  const ref = recipe.data[name];
  return ref && isTensorDataFile(ref.path) ? ref.path : undefined;
}
