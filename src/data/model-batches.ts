// Batches of model feeds from a data set, whatever its form: token ids from hf.load (text) or tensors
// from a .npy/.npz/.jsonl file (src/data/tensor-dataset.ts). calibrate, sensitivity and smoothing
// iterate these; a batch holds samples of one shape only (no padding, so statistics are exact).
import ort from 'onnxruntime-node';
import { errors } from '../errors.ts';
import { DataType, type ModelProto } from '../onnx/types.ts';
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
  const groups = pad ? paddedBatches(samples.map((s) => s.ids.length), maxBatch) : batchesByLength(samples.map((s) => s.ids.length), maxBatch);
  const batches = groups.map((indices) => ({
    indices,
    feeds: () => encoderFeeds(infos, indices.map((i) => samples[i]!.ids), dataset.padId),
  }));
  return { samples: samples.length, labels: samples.map((s) => s.label), labelLines: samples.map((s) => s.line), batches };
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
  for (const members of groups.values()) {
    for (let at = 0; at < members.length; at += maxBatch) {
      const indices = members.slice(at, at + maxBatch);
      batches.push({
        indices,
        feeds: () => {
          const feeds: Record<string, ort.Tensor> = {};
          for (const input of inputs) {
            const parts = indices.map((i) => {
              const s = used[i]!;
              const t = records[s.record]![input.name]!;
              return s.row < 0 ? { t, dims: t.dims, offset: 0 } : sliceRow(t, s.row);
            });
            const sampleDims = parts[0]!.dims;
            const size = sampleDims.reduce((a, b) => a * b, 1);
            feeds[input.name] = stackToOrt(input, parts.map((p) => ({ data: p.t.data, offset: p.offset })), size, [indices.length, ...sampleDims]);
          }
          return feeds;
        },
      });
    }
  }
  return { samples: used.length, labels: usedLabels, labelLines: labelLines.slice(0, used.length), labelFile: dataset.file, batches };
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
