// Fetching activations: the appended-graph-field bytes give onnxruntime the same extra outputs as a
// re-encoded model, and the runner visits every batch in order with the same values.
import { readFileSync } from 'node:fs';
import type ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { BERT_ONNX, writeLangidDatasets } from '../../tests/helpers/bert-langid.ts';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { loadSampleBatches } from '../data/model-batches.ts';
import { decodeModel, encodeModel } from '../onnx/model-io.ts';
import { createSession } from '../runtime/session.ts';
import { forEachActivation, readModelWithOutputs, withActivationOutputs } from './activation-runner.ts';

const root = useTempDir();
let datasets: string;
let tensors: string[];

beforeAll(async () => {
  datasets = await writeLangidDatasets(root, { calibration: 12 });
  const m = decodeModel(readFileSync(BERT_ONNX));
  // Every MatMul input that a node computes, and the model's own output (already an output: not added twice).
  tensors = [...new Set(m.graph.node.filter((n) => n.opType === 'MatMul').map((n) => n.input[0]!)), m.graph.output[0]!.name];
});

async function collect(bytes: Uint8Array, sequential: boolean): Promise<Float32Array[][]> {
  const model = decodeModel(readFileSync(BERT_ONNX));
  const data = await loadSampleBatches(model, { name: 'calibration', datasetsDir: datasets, batchSize: 4 });
  const session = await createSession(bytes, { optimization: 'basic', intraOpThreads: 1 });
  const seen: Float32Array[][] = [];
  const visit = (k: number, t: ort.Tensor) => {
    if (k === 0) seen.push([]);
    seen[seen.length - 1]!.push(Float32Array.from(t.data as Float32Array));
  };
  if (sequential) {
    for (const b of data.batches) {
      const out = await session.run(b.feeds(), tensors);
      tensors.forEach((name, k) => visit(k, out[name]!));
    }
  } else {
    await forEachActivation(session, data.batches, tensors, visit);
  }
  await session.release();
  return seen;
}

describe('readModelWithOutputs', () => {
  it('gives onnxruntime the extra outputs, with the values of a re-encoded model and of a plain sequential run', async () => {
    const { bytes, model } = await readModelWithOutputs(BERT_ONNX, tensors);
    const file = readFileSync(BERT_ONNX);
    // The model is the file's own decode (no second graph field seen by protobufjs)…
    expect(Buffer.from(encodeModel(model)).equals(file)).toBe(true);
    // …and the bytes are the file followed by one more `graph` field (tag 7, length-delimited).
    expect(Buffer.from(bytes.subarray(0, file.byteLength)).equals(file)).toBe(true);
    expect(bytes[file.byteLength]).toBe((7 << 3) | 2);

    const reference = await collect(withActivationOutputs(decodeModel(file), tensors), true);
    const appended = await collect(bytes, false);
    expect(reference.length).toBeGreaterThan(2);
    expect(appended.length).toBe(reference.length);
    appended.forEach((batch, b) => batch.forEach((values, k) => expect(values, `batch ${b} tensor ${tensors[k]}`).toEqual(reference[b]![k])));
  });

  it('takes the names as a promise (read while the QDQ model is read), with room to spare or a copy when the room is short', async () => {
    const file = readFileSync(BERT_ONNX);
    const fromArray = await readModelWithOutputs(BERT_ONNX, tensors);
    const fromPromise = await readModelWithOutputs(BERT_ONNX, Promise.resolve(tensors));
    expect(Buffer.from(fromPromise.bytes).equals(Buffer.from(fromArray.bytes))).toBe(true);
    // More than the 1 MiB + 1 % reserved for names not known up front: the bytes are copied.
    const many = Array.from({ length: 20_000 }, (_, i) => `a_rather_long_made_up_tensor_name_to_fill_the_reserved_room_${i}`);
    const big = await readModelWithOutputs(BERT_ONNX, Promise.resolve(many));
    expect(big.bytes.byteLength).toBeGreaterThan(file.byteLength + 2 ** 20 + file.byteLength / 100);
    expect(Buffer.from(big.bytes.subarray(0, file.byteLength)).equals(file)).toBe(true);
    expect(big.bytes[file.byteLength]).toBe((7 << 3) | 2);
    expect(big.model.graph.node.length).toBe(fromArray.model.graph.node.length);
  });
});
