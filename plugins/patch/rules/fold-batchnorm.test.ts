// fold-batchnorm: Conv → BatchNormalization becomes one Conv with the same numbers (onnxruntime
// before/after), with or without a Conv bias; a BatchNormalization it cannot fold leaves the graph
// byte-identical, with the reason.
import { describe, expect, it } from 'vitest';
import { floatTensor, model, node, run, valueInfo } from '../../../tests/helpers/onnx-build.ts';
import { seededRandom } from '../../../tests/helpers/temp.ts';
import { decodeModel, encodeModel } from '../../../src/onnx/model-io.ts';
import { makeFloatTensor } from '../../../src/onnx/tensor.ts';
import { DataType, type ModelProto } from '../../../src/onnx/types.ts';
import { foldBatchnorm } from './fold-batchnorm.ts';

const rand = seededRandom(3);
const r = (n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());

function convBn(opts: { bias: boolean; extraReader?: boolean }): ModelProto {
  const C = 3;
  const M = 4;
  return model({
    nodes: [
      node('Conv', opts.bias ? ['x', 'W', 'b'] : ['x', 'W'], ['c'], 'conv', [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }]),
      node('BatchNormalization', ['c', 'gamma', 'beta', 'mean', 'var'], ['bn'], 'bn', [{ name: 'epsilon', type: 1, f: 1e-3 }]),
      node('Relu', ['bn'], ['y'], 'relu'),
      ...(opts.extraReader ? [node('Neg', ['c'], ['z'], 'neg')] : []),
    ],
    inputs: [valueInfo('x', DataType.FLOAT, ['N', C, 5, 5])],
    outputs: [valueInfo('y', DataType.FLOAT, ['N', M, 5, 5]), ...(opts.extraReader ? [valueInfo('z', DataType.FLOAT, ['N', M, 5, 5])] : [])],
    initializers: [
      makeFloatTensor('W', [M, C, 3, 3], r(M * C * 9)),
      ...(opts.bias ? [makeFloatTensor('b', [M], r(M))] : []),
      makeFloatTensor('gamma', [M], r(M, 0.5, 2)),
      makeFloatTensor('beta', [M], r(M)),
      makeFloatTensor('mean', [M], r(M)),
      makeFloatTensor('var', [M], r(M, 0.1, 3)),
    ],
    valueInfo: [valueInfo('c', DataType.FLOAT, ['N', M, 5, 5])],
  });
}

const X = floatTensor(Array.from(r(2 * 3 * 25, -2, 2)), [2, 3, 5, 5]);

describe('fold-batchnorm', () => {
  it.each([true, false])('Conv (bias: %s) + BN → one Conv, same outputs', async (bias) => {
    const m = convBn({ bias });
    const before = (await run(m, { x: X })).y!.data as Float32Array;
    const outcome = foldBatchnorm.apply(m);
    expect(outcome).toEqual({ applied: true, changes: 1, detail: '1 BatchNormalization folded into Conv' });
    expect(m.graph.node.map((n) => n.opType)).toEqual(['Conv', 'Relu']);
    const conv = m.graph.node[0]!;
    expect(conv.output).toEqual(['bn']);
    expect(conv.input).toEqual(['x', 'W_bn_folded', bias ? 'b_bn_folded' : 'conv_bias_bn_folded']);
    // The statistics and the unfolded weights are gone; so is the value_info of the old Conv output.
    expect(m.graph.initializer.map((t) => t.name).sort()).toEqual([bias ? 'b_bn_folded' : 'conv_bias_bn_folded', 'W_bn_folded'].sort());
    expect(m.graph.valueInfo).toEqual([]);
    const after = (await run(decodeModel(encodeModel(m)), { x: X })).y!.data as Float32Array;
    let maxErr = 0;
    for (let i = 0; i < before.length; i++) maxErr = Math.max(maxErr, Math.abs(before[i]! - after[i]!));
    expect(maxErr).toBeLessThan(1e-5);
    expect(Math.max(...Array.from(before))).toBeGreaterThan(0.5); // a real signal went through
  });

  it('leaves the graph byte-identical when the Conv output is read elsewhere, saying why', () => {
    const m = convBn({ bias: true, extraReader: true });
    const bytes = encodeModel(m);
    expect(foldBatchnorm.apply(m)).toEqual({ applied: false, reason: 'the Conv output is read by other nodes too' });
    expect(Buffer.from(encodeModel(m)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('no BatchNormalization, or one not after a Conv: not applied', () => {
    const plain = model({ nodes: [node('Relu', ['x'], ['y'], 'relu')], inputs: [valueInfo('x', DataType.FLOAT, [1])], outputs: [valueInfo('y', DataType.FLOAT, [1])] });
    expect(foldBatchnorm.apply(plain)).toEqual({ applied: false, reason: 'the graph has no BatchNormalization' });
    const m = convBn({ bias: true });
    m.graph.node[0]!.opType = 'ConvTranspose';
    const bytes = encodeModel(m);
    expect(foldBatchnorm.apply(m)).toEqual({ applied: false, reason: 'BatchNormalization not fed by a Conv' });
    expect(Buffer.from(encodeModel(m)).equals(Buffer.from(bytes))).toBe(true);
  });
});
