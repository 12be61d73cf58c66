// The consumer weights of quantized activations, read from a QDQ model placed on a small FP32 graph:
// Σ W² over what each channel multiplies — MatMul rows, Gemm rows or columns by transB, Conv's
// W[:, c, :, :] within its group — summed over consumers and normalized to mean 1; an activation
// consumer (Q·Kᵀ) counts channels at the mean weight.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { intAttr, model, node, valueInfo } from '../../tests/helpers/onnx-build.ts';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { encodeModel } from '../onnx/model-io.ts';
import { makeFloatTensor } from '../onnx/tensor.ts';
import { DataType } from '../onnx/types.ts';
import { channelLayout, consumerWeights } from './consumer-weights.ts';
import { placeQdqForTensorRT } from './place-qdq.ts';

const root = useTempDir();

function normalized(e: number[]): number[] {
  const mean = e.reduce((a, b) => a + b, 0) / e.length;
  return e.map((v) => v / mean);
}

async function weightsOf(fp32: ReturnType<typeof model>, tensors: string[], ops = ['MatMul', 'Gemm', 'Conv']) {
  const file = join(root, `m-${Math.random().toString(36).slice(2)}.onnx`);
  writeFileSync(file, encodeModel(fp32));
  const qdq = structuredClone(fp32);
  placeQdqForTensorRT(qdq, { ops, excludeOps: [], excludeNodes: [], activations: 'int8', weights: 'per-channel', attentionMatMuls: true });
  return consumerWeights(qdq, file, tensors);
}

describe('consumerWeights', () => {
  it('MatMul [K, N] rows and Gemm with transB (columns of [N, K]) reading one tensor: summed, normalized to mean 1', async () => {
    // x [batch, 3] feeds MatMul(x, A [3, 2]) and Gemm(x, B [2, 3], transB = 1).
    const a = [1, 0, 0, 2, 1, 1]; // rows: (1, 0), (0, 2), (1, 1) → 1, 4, 2
    const b = [1, 1, 1, 0, 3, 0]; // [N=2, K=3]: columns (1, 0), (1, 3), (1, 0) → 1, 10, 1
    const m = model({
      nodes: [node('MatMul', ['x', 'A'], ['y'], 'mm'), node('Gemm', ['x', 'B'], ['z'], 'gemm', [intAttr('transB', 1)])],
      inputs: [valueInfo('x', DataType.FLOAT, ['batch', 3])],
      outputs: [valueInfo('y', DataType.FLOAT, ['batch', 2]), valueInfo('z', DataType.FLOAT, ['batch', 2])],
      initializers: [makeFloatTensor('A', [3, 2], Float32Array.from(a)), makeFloatTensor('B', [2, 3], Float32Array.from(b))],
    });
    const [w] = await weightsOf(m, ['x']);
    expect(w!.axis).toBe('last');
    expect(w!.consumers.sort()).toEqual(['gemm', 'mm']);
    [...w!.weights].forEach((v, j) => expect(v).toBeCloseTo(normalized([1 + 1, 4 + 10, 2 + 1])[j]!, 12));
    expect(channelLayout(w!, [5, 3])).toEqual({ weights: w!.weights, inner: 1 });
    expect(channelLayout(w!, [5, 4])).toBeUndefined();
  });

  it("Conv with 2 groups: channel c meets W[m, c mod C/g, :, :] of its group's outputs only; NCHW's inner size is H·W", async () => {
    // x [1, 4, 3, 3]; W [2, 2, 1, 1], group 2: output 0 reads channels 0, 1; output 1 reads 2, 3.
    const w = [1, 2, 3, 4];
    const m = model({
      nodes: [node('Conv', ['x', 'W'], ['y'], 'conv', [intAttr('group', 2)])],
      inputs: [valueInfo('x', DataType.FLOAT, [1, 4, 3, 3])],
      outputs: [valueInfo('y', DataType.FLOAT, [1, 2, 3, 3])],
      initializers: [makeFloatTensor('W', [2, 2, 1, 1], Float32Array.from(w))],
    });
    const [cw] = await weightsOf(m, ['x']);
    expect(cw!.axis).toBe(1);
    [...cw!.weights].forEach((v, j) => expect(v).toBeCloseTo(normalized([1, 4, 9, 16])[j]!, 12));
    expect(channelLayout(cw!, [1, 4, 3, 3])).toEqual({ weights: cw!.weights, inner: 9 });
  });

  it('an activation × activation MatMul has no rows: alone it gives nothing; beside a weighted consumer it counts at the mean', async () => {
    // q [2, 2] feeds MatMul(q, kᵀ) (both activations) and MatMul(q, W [2, 1]).
    const m = model({
      nodes: [node('Transpose', ['k'], ['kt'], 'kt'), node('MatMul', ['q', 'kt'], ['s'], 'scores'), node('MatMul', ['q', 'W'], ['p'], 'proj')],
      inputs: [valueInfo('q', DataType.FLOAT, [2, 2]), valueInfo('k', DataType.FLOAT, [2, 2])],
      outputs: [valueInfo('s', DataType.FLOAT, [2, 2]), valueInfo('p', DataType.FLOAT, [2, 1])],
      initializers: [makeFloatTensor('W', [2, 1], Float32Array.of(1, 3))],
    });
    const [q, kt] = await weightsOf(m, ['q', 'kt']);
    expect(kt).toBeUndefined();
    // proj: 1, 9 (mean 5); scores adds the mean, 5, to each: 6, 14 → normalized.
    [...q!.weights].forEach((v, j) => expect(v).toBeCloseTo(normalized([6, 14])[j]!, 12));
  });
});
