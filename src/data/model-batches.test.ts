// Batches for a model whose graph fixes its input dims (exported with batch 1 and sequence 128, say):
// onnxruntime refuses any other size, so the batches must be of exactly those dims. Checked on the
// shipped BERT with its inputs fixed, against the dynamic model's logits on the unpadded samples.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BERT_ONNX, logitsOf, writeLangidDatasets } from '../../tests/helpers/bert-langid.ts';
import { withFixedInputDims } from '../../tests/helpers/fixed-dims.ts';
import { model, node, run, valueInfo } from '../../tests/helpers/onnx-build.ts';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { encodeModel } from '../onnx/model-io.ts';
import { readModelWithData } from '../runtime/model-file.ts';
import { DataType, type ModelProto } from '../onnx/types.ts';
import { createSession } from '../runtime/session.ts';
import { fixedInputDims, loadSampleBatches, rowsOf, tensorBatches } from './model-batches.ts';
import { readTensorDataset } from './tensor-dataset.ts';

const root = useTempDir();
let datasets: string;
let reference: Float32Array[];

beforeAll(async () => {
  datasets = await writeLangidDatasets(root, { evaluation: 10 });
  reference = await logitsOf(BERT_ONNX, datasets);
}, 60_000);

async function fixedBert(dims: number[]): Promise<{ model: ModelProto; bytes: Uint8Array }> {
  const m = withFixedInputDims(await readModelWithData(BERT_ONNX), dims);
  return { model: m, bytes: encodeModel(m) };
}

/** Every batch through onnxruntime: the dims fed, and each sample's logits by its index. */
async function feedAll(m: { model: ModelProto; bytes: Uint8Array }, pad: boolean, batchSize = 4) {
  const data = await loadSampleBatches(m.model, { name: 'evaluation', datasetsDir: datasets, batchSize, pad });
  const session = await createSession(m.bytes, { optimization: 'all', intraOpThreads: 1 });
  const logits: Float32Array[] = new Array(data.samples);
  const dims: number[][] = [];
  for (const b of data.batches) {
    const feeds = b.feeds();
    dims.push([...feeds.input_ids!.dims]);
    const rows = rowsOf((await session.run(feeds)).logits!);
    b.indices.forEach((i, k) => (logits[i] = rows[k]!));
  }
  await session.release();
  return { data, dims, logits };
}

const maxDiff = (a: Float32Array[], b: Float32Array[]) => Math.max(...a.flatMap((r, i) => Array.from(r, (v, j) => Math.abs(v - b[i]![j]!))));

describe('fixedInputDims', () => {
  it('reads dim_value as fixed and dim_param as free; inputs that disagree are refused', async () => {
    expect(fixedInputDims(await readModelWithData(BERT_ONNX))).toMatchObject({ batch: undefined, sequence: undefined });
    const fixed = fixedInputDims((await fixedBert([1, 128])).model);
    expect(fixed).toMatchObject({ batch: 1, sequence: 128 });
    expect(fixed.described).toBe('input_ids [1, 128], attention_mask [1, 128], token_type_ids [1, 128]');
    const mixed = await readModelWithData(BERT_ONNX);
    mixed.graph.input[0]!.type!.tensorType!.shape!.dim[1] = { dimValue: 64 };
    expect(fixedInputDims(mixed)).toMatchObject({ batch: undefined, sequence: 64 });
    mixed.graph.input[1]!.type!.tensorType!.shape!.dim[1] = { dimValue: 32 };
    expect(() => fixedInputDims(mixed)).toThrow(/disagree on the size of axis 1: input_ids \[batch, 64\], attention_mask \[batch, 32\]/);
  });
});

describe('token batches for a model with fixed input dims', () => {
  it('batch 1 × sequence 128: every batch is [1, 128], padded with mask 0, and the logits are the dynamic model’s', async () => {
    for (const pad of [false, true]) {
      const r = await feedAll(await fixedBert([1, 128]), pad);
      expect(r.dims.length).toBe(10);
      expect(new Set(r.dims.map((d) => d.join('x')))).toEqual(new Set(['1x128']));
      // Padding is masked out: the same logits as the unpadded samples through the dynamic model.
      expect(maxDiff(r.logits, reference)).toBeLessThan(1e-4);
      expect(r.data.notes).toEqual([
        { level: 'info', message: "the model's inputs fix the sequence at 128 tokens (input_ids [1, 128], attention_mask [1, 128], token_type_ids [1, 128]): samples are padded to 128" },
        { level: 'info', message: "the model's inputs fix the batch at 1 (input_ids [1, 128], attention_mask [1, 128], token_type_ids [1, 128]): batches of 1 instead of 4" },
      ]);
    }
  });

  it('batch 4 fixed: 10 samples in batches of 4 rows, the last filled with copies that no sample’s logits come from', async () => {
    const r = await feedAll(await fixedBert([4, 128]), true, 8);
    expect(r.data.batches.map((b) => b.indices.length)).toEqual([4, 4, 2]);
    expect(r.dims).toEqual([[4, 128], [4, 128], [4, 128]]);
    expect(r.logits.filter(Boolean).length).toBe(10);
    expect(maxDiff(r.logits, reference)).toBeLessThan(1e-4);
  });

  it('a sequence shorter than some samples cuts them, and says how many', async () => {
    const r = await feedAll(await fixedBert([1, 8]), false);
    expect(new Set(r.dims.map((d) => d.join('x')))).toEqual(new Set(['1x8']));
    expect(r.data.notes![0]!.level).toBe('warn');
    expect(r.data.notes![0]!.message).toMatch(/^the model's inputs fix the sequence at 8 tokens \(.*\): samples are padded to 8, and \d+ of 10 longer ones cut to 8$/);
  });
});

describe('tensor batches for a model with a fixed batch dim', () => {
  it('batches of exactly the fixed size, the last filled by repeating its rows', async () => {
    // y = ReduceSum over the sample's values; x is [2, 3, 4] fixed, the data has 3 samples.
    const m = model({
      nodes: [
        node('Flatten', ['x'], ['flat'], 'flatten', [{ name: 'axis', type: 2, i: 1 }]),
        node('ReduceSum', ['flat', 'axes'], ['y'], 'sum', [{ name: 'keepdims', type: 2, i: 0 }]),
      ],
      inputs: [valueInfo('x', DataType.FLOAT, [2, 3, 4])],
      outputs: [valueInfo('y', DataType.FLOAT, [2])],
      initializers: [{ name: 'axes', dims: [1], dataType: DataType.INT64, int64Data: [1] }],
    });
    const file = join(root, 'three.tensors.jsonl');
    writeFileSync(file, [1, 2, 3].map((v) => JSON.stringify({ x: Array.from({ length: 3 }, () => new Array(4).fill(v)) })).join('\n') + '\n');
    const b = tensorBatches(m, await readTensorDataset(file), 16);
    expect(b.batches.map((x) => x.indices)).toEqual([[0, 1], [2]]);
    expect(b.notes).toEqual([{ level: 'info', message: "the model's inputs fix the batch at 2: batches of 2 instead of 16" }]);
    const sums = [];
    for (const batch of b.batches) sums.push(Array.from((await run(m, batch.feeds())).y!.data as Float32Array));
    expect(sums).toEqual([[12, 24], [36, 36]]);
  });
});
