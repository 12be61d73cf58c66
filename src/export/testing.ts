// For tests: runs an exported model on reference token ids (one text at a time, then all of them
// right-padded into one batch) and returns the largest |output − reference output|; padded
// positions of per-token outputs are left out, as they are meaningless.
import type ort from 'onnxruntime-node';
import { decodeModel } from '../onnx/model-io.ts';
import { encoderFeeds, graphInputs } from '../runtime/feeds.ts';
import { createSession } from '../runtime/session.ts';

export interface ReferenceItem {
  ids: number[];
  /**
   * The expected output, flat: [labels] for sequence classification, [tokens × labels] for token
   * classification, [tokens × hidden] for last_hidden_state.
   */
  values: number[];
}

/** Row `r` of an output: [labels] per sequence, or the first `tokens` positions of [seq, width]. */
function rowOf(out: ort.Tensor, r: number, tokens: number): Float32Array {
  const data = out.data as Float32Array;
  const dims = out.dims;
  if (dims.length === 2) return data.subarray(r * dims[1]!, (r + 1) * dims[1]!);
  const [, seq, labels] = dims as [number, number, number];
  return data.subarray(r * seq * labels, r * seq * labels + tokens * labels);
}

function maxDiff(actual: Float32Array, expected: number[]): number {
  if (actual.length !== expected.length) return Infinity;
  return expected.reduce((m, v, i) => Math.max(m, Math.abs(v - actual[i]!)), 0);
}

export async function referenceDiffs(bytes: Uint8Array, items: ReferenceItem[], padId: number): Promise<{ single: number; batched: number }> {
  const model = decodeModel(bytes);
  const inputs = graphInputs(model.graph.input, new Set());
  const output = model.graph.output[0]!.name;
  const session = await createSession(bytes, { intraOpThreads: 1 });
  try {
    let single = 0;
    for (const item of items) {
      const out = (await session.run(encoderFeeds(inputs, [item.ids], padId)))[output]!;
      single = Math.max(single, maxDiff(rowOf(out, 0, item.ids.length), item.values));
    }
    const out = (await session.run(encoderFeeds(inputs, items.map((i) => i.ids), padId)))[output]!;
    let batched = 0;
    items.forEach((item, r) => (batched = Math.max(batched, maxDiff(rowOf(out, r, item.ids.length), item.values))));
    return { single, batched };
  } finally {
    await session.release();
  }
}
