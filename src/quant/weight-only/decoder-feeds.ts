// Feeds for running an exported decoder (docs: /work/notes/decoder-contract.md, the Optimum /
// onnxruntime-genai layout) over whole texts, as a prefill with an empty cache: one sequence per run,
// unpadded, so every token's activations are real (no padding rows in the statistics), with
// attention_mask all ones, position_ids 0..n-1 and each past_key_values.{i}.key/value a
// [1, kv_heads, 0, head_dim] tensor. Shared by the weight-only calibration (Hessians) and perplexity.
import ort from 'onnxruntime-node';
import { errors } from '../../errors.ts';
import { toNumber, DataType, type ModelProto, type ValueInfoProto } from '../../onnx/types.ts';

export interface DecoderInputs {
  ids: ValueInfoProto;
  mask?: ValueInfoProto;
  positions?: ValueInfoProto;
  past: { name: string; heads: number; headDim: number }[];
}

/** The decoder's inputs, or undefined when the graph has no `input_ids` with a KV-cache input. */
export function decoderInputs(model: ModelProto): DecoderInputs | undefined {
  const inits = new Set(model.graph.initializer.map((t) => t.name));
  const inputs = model.graph.input.filter((i) => !inits.has(i.name));
  const ids = inputs.find((i) => i.name === 'input_ids');
  const pastInputs = inputs.filter((i) => i.name.startsWith('past_key_values.'));
  if (!ids || pastInputs.length === 0) return undefined;
  const known = new Set(['input_ids', 'attention_mask', 'position_ids', ...pastInputs.map((i) => i.name)]);
  const unknown = inputs.filter((i) => !known.has(i.name));
  if (unknown.length) throw errors.usage(`the decoder has inputs qrun does not know how to feed: ${unknown.map((i) => i.name).join(', ')}`, 'export it with input_ids, attention_mask, position_ids and past_key_values.{i}.key/value only');
  const past = pastInputs.map((i) => {
    const dims = i.type?.tensorType?.shape?.dim ?? [];
    const fixed = (d: (typeof dims)[number] | undefined) => (d?.dimValue !== undefined && d.dimValue !== null ? toNumber(d.dimValue) : undefined);
    const heads = fixed(dims[1]);
    const headDim = fixed(dims[3]);
    if (dims.length !== 4 || heads === undefined || headDim === undefined) {
      throw errors.usage(`decoder input ${i.name} should be [batch, kv_heads, past_sequence, head_dim] with fixed heads and head_dim`, 'export the decoder with numeric num_kv_heads and head_dim dimensions');
    }
    return { name: i.name, heads, headDim };
  });
  return { ids, mask: inputs.find((i) => i.name === 'attention_mask'), positions: inputs.find((i) => i.name === 'position_ids'), past };
}

function intTensor(info: ValueInfoProto, values: number[]): ort.Tensor {
  const dims = [1, values.length];
  if (info.type?.tensorType?.elemType === DataType.INT32) return new ort.Tensor('int32', Int32Array.from(values), dims);
  return new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), dims);
}

/** One prefill of `ids` (batch 1) with an empty cache. */
export function prefillFeeds(d: DecoderInputs, ids: number[]): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = { [d.ids.name]: intTensor(d.ids, ids) };
  if (d.mask) feeds[d.mask.name] = intTensor(d.mask, ids.map(() => 1));
  if (d.positions) feeds[d.positions.name] = intTensor(d.positions, ids.map((_, i) => i));
  for (const p of d.past) feeds[p.name] = new ort.Tensor('float32', new Float32Array(0), [1, p.heads, 0, p.headDim]);
  return feeds;
}
