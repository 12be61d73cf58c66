// Feeds for encoder models from token ids: input_ids, attention_mask, token_type_ids and
// position_ids, in the element type the graph declares (int64, or int32 after the int64→int32 patch).
import ort from 'onnxruntime-node';
import { DataType, type ValueInfoProto } from '../onnx/types.ts';

export interface GraphInputInfo {
  name: string;
  elemType: number;
}

export function graphInputs(inputs: ValueInfoProto[], initializerNames: Set<string>): GraphInputInfo[] {
  return inputs
    .filter((i) => !initializerNames.has(i.name))
    .map((i) => ({ name: i.name, elemType: i.type?.tensorType?.elemType ?? DataType.INT64 }));
}

/** Groups sample indices into batches of equal length (no padding, so statistics are exact). */
export function batchesByLength(lengths: number[], maxBatch: number): number[][] {
  const order = lengths.map((len, i) => [len, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const batches: number[][] = [];
  let current: number[] = [];
  let currentLen = -1;
  for (const [len, i] of order) {
    if (len !== currentLen || current.length >= maxBatch) {
      if (current.length) batches.push(current);
      current = [];
      currentLen = len;
    }
    current.push(i);
  }
  if (current.length) batches.push(current);
  return batches;
}

function tensorOf(elemType: number, data: number[], dims: number[]): ort.Tensor {
  if (elemType === DataType.INT32) return new ort.Tensor('int32', Int32Array.from(data), dims);
  if (elemType === DataType.INT64) return new ort.Tensor('int64', BigInt64Array.from(data, (v) => BigInt(v)), dims);
  if (elemType === DataType.FLOAT) return new ort.Tensor('float32', Float32Array.from(data), dims);
  throw new Error(`unsupported input element type ${elemType}`);
}

/**
 * Builds feeds for rows of token ids, right-padded with padId to the longest row (mask 0 there), or
 * to `sequence` (a model with a fixed sequence length; rows must not be longer). Token types are 0
 * unless `typeRows` gives them (a question + context pair: 1 on the context), padded with 0.
 */
export function encoderFeeds(inputs: GraphInputInfo[], rows: number[][], padId: number, sequence?: number, typeRows?: (number[] | undefined)[]): Record<string, ort.Tensor> {
  const batch = rows.length;
  const seq = sequence ?? Math.max(...rows.map((r) => r.length));
  const ids: number[] = [];
  const mask: number[] = [];
  for (const r of rows) {
    for (let j = 0; j < seq; j++) {
      ids.push(j < r.length ? r[j]! : padId);
      mask.push(j < r.length ? 1 : 0);
    }
  }
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of inputs) {
    const n = input.name.toLowerCase();
    let data: number[];
    if (n.includes('input_ids') || n === 'ids') data = ids;
    else if (n.includes('attention_mask') || n === 'mask') data = mask;
    else if (n.includes('token_type')) data = typeRows ? rows.flatMap((_, r) => Array.from({ length: seq }, (_, j) => typeRows[r]?.[j] ?? 0)) : new Array(batch * seq).fill(0);
    else if (n.includes('position_ids')) data = Array.from({ length: batch * seq }, (_, k) => k % seq);
    else throw new Error(`cannot build a feed for model input "${input.name}": qrun knows input_ids, attention_mask, token_type_ids and position_ids`);
    feeds[input.name] = tensorOf(input.elemType, data, [batch, seq]);
  }
  return feeds;
}
