// keepOnlyQuantized: all kept = the QDQ model's numbers, none kept = FP32's numbers exactly (float
// weights come from the FP32 model), one kept = only that node's Q/DQ left.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { BERT_ONNX } from '../../tests/helpers/bert-langid.ts';
import { floatTensor, model, node, runBytes, valueInfo } from '../../tests/helpers/onnx-build.ts';
import { decodeModel, encodeModel } from '../onnx/model-io.ts';
import { makeFloatTensor } from '../onnx/tensor.ts';
import { DataType, type ModelProto } from '../onnx/types.ts';
import { encoderFeeds, graphInputs } from '../runtime/feeds.ts';
import { placeQdqForTensorRT } from './place-qdq.ts';
import { findQuantizedNodes, keepOnlyQuantized } from './qdq-groups.ts';

let fp32: ModelProto;
let qdq: ModelProto;
const rows = [
  [2, 40, 50, 60, 70, 3],
  [2, 90, 91, 92, 93, 3],
];
const feeds = (m: ModelProto) => encoderFeeds(graphInputs(m.graph.input, new Set(m.graph.initializer.map((t) => t.name ?? ''))), rows, 0);
const logits = async (m: ModelProto) => Array.from((await runBytes(encodeModel(m), feeds(m))).logits!.data as Float32Array);

beforeAll(() => {
  fp32 = decodeModel(readFileSync(BERT_ONNX));
  qdq = decodeModel(readFileSync(BERT_ONNX));
  placeQdqForTensorRT(qdq, { ops: ['MatMul', 'Gemm'], excludeOps: [], excludeNodes: [], activations: 'int8', weights: 'per-channel', attentionMatMuls: true });
  // A coarse activation scale everywhere, so quantization visibly changes the logits.
  for (const t of qdq.graph.initializer) if (t.name?.includes('_scale_for_')) Object.assign(t, makeFloatTensor(t.name, [], Float32Array.of(0.05)));
});

describe('findQuantizedNodes', () => {
  it('finds the 34 MatMul/Gemm with their activation and weight inputs', () => {
    const nodes = findQuantizedNodes(qdq);
    expect(nodes).toHaveLength(34);
    expect(nodes.filter((n) => n.inputs.some((i) => i.kind === 'weight'))).toHaveLength(26);
    expect(nodes.filter((n) => n.inputs.every((i) => i.kind === 'activation'))).toHaveLength(8);
  });
});

describe('keepOnlyQuantized', () => {
  it('keeping every node changes nothing; keeping none gives FP32 logits exactly, with no Q/DQ left', async () => {
    const all = new Set(findQuantizedNodes(qdq).map((n) => n.name));
    expect(await logits(keepOnlyQuantized(qdq, all, fp32))).toEqual(await logits(qdq));
    const none = keepOnlyQuantized(qdq, new Set(), fp32);
    expect(none.graph.node.filter((n) => n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear')).toHaveLength(0);
    expect(await logits(none)).toEqual(await logits(fp32));
    expect(await logits(qdq)).not.toEqual(await logits(fp32));
    // The QDQ model itself is not modified.
    expect(findQuantizedNodes(qdq)).toHaveLength(34);
  });

  it('one kept node keeps only its own Q/DQ', () => {
    const target = findQuantizedNodes(qdq).find((n) => n.opType === 'Gemm')!;
    const one = keepOnlyQuantized(qdq, new Set([target.name]), fp32);
    const left = findQuantizedNodes(one);
    expect(left.map((n) => n.name)).toEqual([target.name]);
    expect(one.graph.node.filter((n) => n.opType === 'DequantizeLinear')).toHaveLength(2);
  });

  it('without an FP32 twin, a bypassed weight is the dequantized int8 weight', async () => {
    const m = model({
      nodes: [node('MatMul', ['x', 'W'], ['y'], 'mm')],
      inputs: [valueInfo('x', DataType.FLOAT, [1, 2])],
      outputs: [valueInfo('y', DataType.FLOAT, [1, 2])],
      initializers: [makeFloatTensor('W', [2, 2], Float32Array.of(1, 0.3, -2, 4))],
    });
    placeQdqForTensorRT(m, { ops: ['MatMul'], excludeOps: [], excludeNodes: [], activations: 'int8', weights: 'per-channel', attentionMatMuls: true });
    const bypassed = keepOnlyQuantized(m, new Set());
    expect(bypassed.graph.node.map((n) => n.opType)).toEqual(['MatMul']);
    const out = await runBytes(encodeModel(bypassed), { x: floatTensor([1, 1], [1, 2]) });
    // Column 0: scale 2/127 → [1, -2] exact to a step; column 1: scale 4/127 → 0.3 ≈ 10·4/127.
    expect(Array.from(out.y!.data as Float32Array)[0]).toBeCloseTo(1 * Math.round(127 / 2) * (2 / 127) - 2, 5);
    expect(Array.from(out.y!.data as Float32Array)[1]).toBeCloseTo(Math.round(0.3 * 127 / 4) * (4 / 127) + 4, 5);
  });
});
