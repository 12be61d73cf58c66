// mode: dynamic writes onnxruntime's quantize_dynamic graph (dynamic-form.ts). On the shipped BERT:
// the structure and names quantize_dynamic gives, the values of its weight quantization, and what
// onnxruntime's optimizer makes of it. The device job s1-speed compares the same file with Python
// onnxruntime's own quantize_dynamic output node for node on BERT-base.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BERT_ONNX } from '../../tests/helpers/bert-langid.ts';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { encodeModel } from '../onnx/model-io.ts';
import { tensorDims, tensorToFloat32 } from '../onnx/tensor.ts';
import type { ModelProto, TensorProto } from '../onnx/types.ts';
import { readModelWithData } from '../runtime/model-file.ts';
import { createSession } from '../runtime/session.ts';
import { placeQdqForTensorRT, type QdqPlacementOptions } from './place-qdq.ts';

const root = useTempDir();
const OPTIONS: QdqPlacementOptions = { ops: ['MatMul', 'Gemm'], excludeOps: [], excludeNodes: [], activations: 'int8', weights: 'per-channel', attentionMatMuls: true, mode: 'dynamic' };

async function dynamicBert(): Promise<{ m: ModelProto; fp32: ModelProto }> {
  const m = await readModelWithData(BERT_ONNX);
  placeQdqForTensorRT(m, OPTIONS);
  return { m, fp32: await readModelWithData(BERT_ONNX) };
}

const init = (m: ModelProto, name: string): TensorProto => m.graph.initializer.find((t) => t.name === name)!;

describe('mode: dynamic is onnxruntime quantize_dynamic form', () => {
  it('one DynamicQuantizeLinear per activation, shared by Q, K and V; names and chain as matmul.py writes them', async () => {
    const { m } = await dynamicBert();
    const dql = m.graph.node.filter((n) => n.opType === 'DynamicQuantizeLinear');
    // 4 layers × (hidden state for Q/K/V, attention context, FFN input, GELU output) + pooler + classifier inputs.
    expect(dql).toHaveLength(18);
    expect(new Set(dql.map((n) => n.input[0])).size).toBe(18);
    const q = m.graph.node.find((n) => n.name === '/m/bert/encoder/layer.0/attention/self/query/MatMul_quant')!;
    const k = m.graph.node.find((n) => n.name === '/m/bert/encoder/layer.0/attention/self/key/MatMul_quant')!;
    const v = m.graph.node.find((n) => n.name === '/m/bert/encoder/layer.0/attention/self/value/MatMul_quant')!;
    expect([q, k, v].map((n) => n.opType)).toEqual(['MatMulInteger', 'MatMulInteger', 'MatMulInteger']);
    expect(new Set([q, k, v].map((n) => n.input[0])).size).toBe(1);
    const x = dql.find((n) => n.output[0] === q.input[0])!;
    expect(x.name).toBe(`${x.input[0]}_QuantizeLinear`);
    expect(x.output).toEqual([`${x.input[0]}_quantized`, `${x.input[0]}_scale`, `${x.input[0]}_zero_point`]);
    // MatMulInteger(A_q, B_q, A_zp, B_zp) → Cast → Mul(A_scale, B_scale) → Mul(cast, scales) = the original output.
    const w = q.input[1]!.replace(/_quantized$/, '');
    expect(q.input).toEqual([x.output[0], `${w}_quantized`, x.output[2], `${w}_zero_point`]);
    const reader = (tensor: string) => m.graph.node.find((n) => n.input.includes(tensor))!;
    const cast = reader(q.output[0]!);
    const out = reader(cast.output[0]!);
    const scales = m.graph.node.find((n) => n.output[0] === out.input[1])!;
    expect([cast!.opType, cast!.name, scales!.opType, scales!.name, scales!.input, out!.opType, out!.name, out!.input]).toEqual([
      'Cast',
      `${q.output[0]}_cast`,
      'Mul',
      `${q.name}_scales_mul`,
      [x.output[1], `${w}_scale`],
      'Mul',
      `${q.name}_output_scale_mul`,
      [cast!.output[0], scales!.output[0]],
    ]);
    expect(m.graph.node.some((n) => n.opType === 'Gemm')).toBe(false); // replace_gemm_with_matmul
  });

  it("nodes in the order quantize_dynamic saves them: input-less nodes first, then those made ready by the inputs and initializers in sorted name order", async () => {
    const { m } = await dynamicBert();
    const nodes = m.graph.node;
    const constants = nodes.filter((n) => n.input.filter(Boolean).length === 0);
    expect(nodes.slice(0, constants.length)).toEqual(constants);
    const given = new Set([...m.graph.initializer.map((t) => t.name ?? ''), ...m.graph.input.map((i) => i.name)]);
    const ready = nodes.filter((n) => n.input.length > 0 && n.input.every((x) => !x || given.has(x)));
    const firstName = [...given].sort().find((name) => ready.some((n) => n.input.includes(name)))!;
    expect(nodes[constants.length]).toBe(ready.find((n) => n.input.includes(firstName)));
    // And a topological order: every input is made before it is read.
    const made = new Set(given);
    for (const n of nodes) {
      for (const x of n.input) if (x) expect(made.has(x)).toBe(true);
      for (const o of n.output) made.add(o);
    }
  });

  it('weights int8 symmetric per column (zero point 0, scale absmax/127), embeddings uint8 behind one DequantizeLinear; float weights dropped', async () => {
    const { m, fp32 } = await dynamicBert();
    const name = 'm.bert.encoder.layer.0.attention.self.query.weight';
    const original = fp32.graph.initializer.find((t) => t.name?.startsWith(name) || t.name === name);
    const qNode = m.graph.node.find((n) => n.name === '/m/bert/encoder/layer.0/attention/self/query/MatMul_quant')!;
    const w = qNode.input[1]!.replace(/_quantized$/, '');
    const source = fp32.graph.initializer.find((t) => t.name === w) ?? original!;
    const values = tensorToFloat32(source);
    const [rows, cols] = tensorDims(source) as [number, number];
    const scale = tensorToFloat32(init(m, `${w}_scale`));
    expect(scale).toHaveLength(cols);
    const absMax = (c: number) => Math.max(...Array.from({ length: rows }, (_, r) => Math.abs(values[r * cols + c]!)));
    for (const c of [0, 1, cols - 1]) expect(scale[c]).toBe(Math.fround(absMax(c) / 127));
    expect(Array.from(new Int8Array(init(m, `${w}_zero_point`).rawData!))).toEqual(new Array(cols).fill(0));
    expect(m.graph.initializer.some((t) => t.name === w)).toBe(false);
    const word = m.graph.node.find((n) => n.opType === 'Gather' && n.input[0]!.includes('word_embeddings'))!;
    expect(init(m, word.input[0]!).dataType).toBe(2); // uint8
    expect(Array.from(init(m, word.input[0]!.replace(/_quantized$/, '_zero_point')).rawData!)).toEqual([128]);
    const dq = m.graph.node.filter((n) => n.opType === 'DequantizeLinear');
    expect(dq.map((n) => n.input[0])).toEqual(expect.arrayContaining([word.output[0]]));
    expect(dq).toHaveLength(3);
  });

  it('onnxruntime fuses every weight MatMul into an integer kernel, Q·Kᵀ and P·V stay float', async () => {
    const { m } = await dynamicBert();
    const path = join(root, 'dynamic.onnx');
    writeFileSync(path, encodeModel(m));
    const optimized = join(root, 'dynamic.opt.onnx');
    const s = await createSession(path, { optimization: 'all', optimizedModelFilePath: optimized });
    await s.release();
    const ops = (await readModelWithData(optimized)).graph.node.map((n) => n.opType);
    const count = (op: string) => ops.filter((o) => o === op).length;
    expect(count('MatMulIntegerToFloat') + count('DynamicQuantizeMatMul')).toBe(26);
    expect(count('MatMulInteger')).toBe(0);
    // Q, K and V read one quantized activation: MatMulIntegerToFloat after a shared DynamicQuantizeLinear.
    expect(count('MatMulIntegerToFloat')).toBeGreaterThanOrEqual(12);
  });
});
