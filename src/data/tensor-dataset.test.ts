// Tensor data sets: numpy's own files (written by numpy 2.4, fixtures/), JSON lines, and the batches
// they become for a model, fed through onnxruntime.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { model, node, run, valueInfo } from '../../tests/helpers/onnx-build.ts';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { DataType } from '../onnx/types.ts';
import { loadSampleBatches, tensorBatches } from './model-batches.ts';
import { halfToFloat, isTensorDataFile, readTensorDataset, UNNAMED_INPUT } from './tensor-dataset.ts';

const fixture = (f: string) => fileURLToPath(new URL(`./fixtures/${f}`, import.meta.url));
// np.arange(24).reshape(2, 3, 4) / 8 - 1
const PIXELS = Array.from({ length: 24 }, (_, i) => i / 8 - 1);

/** y = ReduceSum(x) per sample (keepdims 0 over axes 1..): lets a test see which rows were fed. */
function summer(inputRank: number, elemType: number = DataType.FLOAT) {
  const dims = ['batch', ...Array.from({ length: inputRank - 1 }, (_, i) => `d${i}`)];
  return model({
    nodes: [
      node('Cast', ['x'], ['xf'], 'cast', [{ name: 'to', type: 2, i: DataType.FLOAT }]),
      node('Flatten', ['xf'], ['flat'], 'flatten', [{ name: 'axis', type: 2, i: 1 }]),
      node('ReduceSum', ['flat', 'axes'], ['y'], 'sum', [{ name: 'keepdims', type: 2, i: 0 }]),
    ],
    inputs: [valueInfo('x', elemType, dims)],
    outputs: [valueInfo('y', DataType.FLOAT, ['batch'])],
    initializers: [{ name: 'axes', dims: [1], dataType: DataType.INT64, int64Data: [1] }],
  });
}

describe('readTensorDataset: numpy files', () => {
  it('.npy (float32, C order): the array, its shape, unnamed', async () => {
    const d = await readTensorDataset(fixture('pixels.npy'));
    expect(d.format).toBe('npy');
    const t = d.records[0]![UNNAMED_INPUT]!;
    expect(t.dims).toEqual([2, 3, 4]);
    expect(Array.from(t.data as Float32Array)).toEqual(PIXELS);
  });

  it('.npz (np.savez_compressed: deflate), float16 and int64 arrays, labels taken out', async () => {
    const d = await readTensorDataset(fixture('inputs.npz'));
    expect(Object.keys(d.records[0]!).sort()).toEqual(['mask', 'pixel_values']);
    expect(d.records[0]!.pixel_values!.dims).toEqual([2, 3, 4]);
    // float16 holds these eighths exactly.
    expect(Array.from(d.records[0]!.pixel_values!.data as Float32Array)).toEqual(PIXELS);
    expect(Array.from(d.records[0]!.mask!.data as BigInt64Array)).toEqual([1n, 0n, 1n, 1n]);
    expect(d.labels).toEqual([3, 7]); // numpy labels are class indices: numbers, as labels.ts reads them
  });

  it('.npz written by np.savez with a positional array (stored, float64): arr_0 goes to the only input', async () => {
    const d = await readTensorDataset(fixture('unnamed.npz'));
    expect(Object.keys(d.records[0]!)).toEqual([UNNAMED_INPUT]);
    expect(Array.from(d.records[0]![UNNAMED_INPUT]!.data as Float64Array)).toEqual([1.5, -2]);
  });

  it('float16 decoding covers subnormals, infinities and signs', () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(halfToFloat(0x7bff)).toBe(65504);
  });
});

describe('readTensorDataset: JSON lines and errors', () => {
  const dir = useTempDir();

  it('one object per line; integer lists become int64, others float32; labels kept', async () => {
    const file = join(dir, 'px.jsonl');
    writeFileSync(file, '{"pixel_values": [[0.5, 1], [2, 3]], "label": "cat", "split": "calib"}\n\n{"pixel_values": [[1, 2, 3]], "label": null}\n');
    const d = await readTensorDataset(file);
    expect(d.records).toHaveLength(2);
    expect(Object.keys(d.records[0]!)).toEqual(['pixel_values']); // "split" is metadata
    expect(d.records[0]!.pixel_values!.dims).toEqual([2, 2]);
    expect(d.records[0]!.pixel_values!.data).toBeInstanceOf(Float32Array);
    expect(d.records[1]!.pixel_values!.data).toBeInstanceOf(BigInt64Array);
    expect(d.labels).toEqual(['cat', null]);
  });

  it('a ragged list is an error naming the line', async () => {
    const file = join(dir, 'ragged.jsonl');
    writeFileSync(file, '{"x": [[1, 2]]}\n{"x": [[1, 2], [3]]}\n');
    await expect(readTensorDataset(file)).rejects.toThrow(/line 2, "x": ragged nested list/);
  });

  it('a broken .npy says why', async () => {
    const file = join(dir, 'bad.npy');
    writeFileSync(file, 'not numpy');
    await expect(readTensorDataset(file)).rejects.toThrow(/not a readable \.npy array: no \\x93NUMPY magic/);
  });

  it('isTensorDataFile: by extension, and a .jsonl by its first key', () => {
    const text = join(dir, 'text.jsonl');
    writeFileSync(text, '{"text": "hello", "label": "en"}\n');
    const tensors = join(dir, 'tensors.jsonl');
    writeFileSync(tensors, '{"input_ids": [[1, 2]]}\n');
    // Words with tags (token classification) are text too: an array of strings first.
    const words = join(dir, 'words.jsonl');
    writeFileSync(words, '{"tokens": ["Open", "/", "etc"], "tags": ["O", "B-PATH", "I-PATH"]}\n');
    expect(isTensorDataFile(text)).toBe(false);
    expect(isTensorDataFile(words)).toBe(false);
    expect(isTensorDataFile(tensors)).toBe(true);
    expect(isTensorDataFile(fixture('pixels.npy'))).toBe(true);
    expect(isTensorDataFile(join(dir, 'x.tensors.jsonl'))).toBe(true);
    expect(isTensorDataFile(join(dir, 'missing.jsonl'))).toBe(false);
  });
});

describe('tensorBatches: samples → batches of one shape → onnxruntime', () => {
  const dir = useTempDir();

  it('.npy rows are samples: batches of at most batchSize, in order, summed by the model', async () => {
    const m = summer(3);
    const b = tensorBatches(m, await readTensorDataset(fixture('pixels.npy')), 1);
    expect(b.samples).toBe(2);
    expect(b.batches.map((x) => x.indices)).toEqual([[0], [1]]);
    const sums = [];
    for (const batch of b.batches) sums.push(...((await run(m, batch.feeds())).y!.data as Float32Array));
    expect(sums).toEqual([PIXELS.slice(0, 12).reduce((a, c) => a + c), PIXELS.slice(12).reduce((a, c) => a + c)]);
  });

  it('JSON lines of varying shapes are grouped by shape; a line with the model rank is a batch', async () => {
    const file = join(dir, 'vary.jsonl');
    writeFileSync(
      file,
      [
        { x: [1, 2], label: 'a' }, // one sample of length 2
        { x: [1, 2, 3], label: 'b' }, // length 3
        { x: [[5, 5], [6, 6]], label: 'c' }, // a batch of two samples of length 2 (rank 2 = the model's)
        { x: [0.5, 0.25, 0.25], label: 'd' },
      ]
        .map((o) => JSON.stringify(o))
        .join('\n'),
    );
    const m = summer(2);
    const b = tensorBatches(m, await readTensorDataset(file), 8);
    expect(b.samples).toBe(5);
    expect(b.labels).toEqual(['a', 'b', 'c', 'c', 'd']);
    expect(b.batches.map((x) => x.indices)).toEqual([[0, 2, 3], [1, 4]]);
    const out = await run(m, b.batches[0]!.feeds());
    expect(Array.from(out.y!.data as Float32Array)).toEqual([3, 10, 12]);
    expect(out.y!.dims).toEqual([3]);
  });

  it('feeds follow the model input type (int64 ids from float data, float from int)', async () => {
    const m = summer(3, DataType.INT64);
    const b = tensorBatches(m, await readTensorDataset(fixture('pixels.npy')), 4);
    const feeds = b.batches[0]!.feeds();
    expect(feeds.x!.type).toBe('int64');
    expect(feeds.x!.dims).toEqual([2, 3, 4]);
  });

  it('names must match model inputs; a limit keeps the first samples', async () => {
    const m = summer(3);
    const d = await readTensorDataset(fixture('inputs.npz'));
    expect(() => tensorBatches(m, d, 4)).toThrow(/"(mask|pixel_values)" is not a model input/);
    const limited = await loadSampleBatches(m, { name: 'x', tensorFile: fixture('pixels.npy'), batchSize: 4, limit: 1 });
    expect(limited.samples).toBe(1);
  });
});
