import { describe, expect, it } from 'vitest';
import { makeFloatTensor } from '../onnx/tensor.ts';
import type { ModelProto, NodeProto, TensorProto } from '../onnx/types.ts';
import { isKnownRangeRule, knownRanges } from './known-ranges.ts';

const node = (opType: string, output: string, domain?: string): NodeProto => ({ opType, input: ['x'], output: [output], attribute: [], domain });
const model = (nodes: NodeProto[], initializer: TensorProto[] = []) => ({ graph: { node: nodes, initializer, input: [], output: [] } }) as unknown as ModelProto;

describe('knownRanges', () => {
  it('Softmax and Sigmoid give [0, 1], Tanh [−1, 1] exactly; other producers, graph inputs and custom-domain ops nothing', () => {
    const m = model([node('Softmax', 'p'), node('Sigmoid', 's'), node('Tanh', 't'), node('Gelu', 'g'), node('Softmax', 'c', 'com.example')]);
    expect(knownRanges(m, ['p', 's', 't', 'g', 'c', 'x'])).toEqual([
      { min: 0, max: 1, rule: 'softmax [0, 1]', kind: 'exact' },
      { min: 0, max: 1, rule: 'sigmoid [0, 1]', kind: 'exact' },
      { min: -1, max: 1, rule: 'tanh [-1, 1]', kind: 'exact' },
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('Relu bounds below at 0; Clip by its constant min/max (initializers, Constant nodes, opset-6 attributes); a bound passes max pooling', () => {
    const clip = (input: string[], output: string, attribute: NodeProto['attribute'] = []): NodeProto => ({ opType: 'Clip', input: ['x', ...input], output: [output], attribute });
    const m = model(
      [
        node('Relu', 'r'),
        clip(['zero', 'six'], 'relu6'),
        { opType: 'Constant', input: [], output: ['lo'], attribute: [{ name: 'value', type: 4, t: makeFloatTensor('', [], Float32Array.of(-1)) }] },
        clip(['lo', 'one'], 'hardtanh'),
        clip(['', 'six'], 'upper'),
        clip(['dynamic', 'six'], 'half-known'),
        clip(['dynamic'], 'unknown'),
        clip([], 'opset6', [{ name: 'min', type: 1, f: 0 }, { name: 'max', type: 1, f: 6 }]),
        { opType: 'MaxPool', input: ['relu6'], output: ['pooled'], attribute: [] },
        { opType: 'MaxPool', input: ['p'], output: ['pooled-probs'], attribute: [] },
        node('Softmax', 'p'),
        { opType: 'Add', input: ['relu6', 'relu6'], output: ['sum'], attribute: [] },
      ],
      [makeFloatTensor('zero', [], Float32Array.of(0)), makeFloatTensor('six', [], Float32Array.of(6)), makeFloatTensor('one', [], Float32Array.of(1))],
    );
    const r = knownRanges(m, ['r', 'relu6', 'hardtanh', 'upper', 'half-known', 'unknown', 'opset6', 'pooled', 'pooled-probs', 'sum']);
    expect(r.map((x) => x && [x.min, x.max, x.rule, x.kind])).toEqual([
      [0, Infinity, 'relu [0, inf)', 'bound'],
      [0, 6, 'clip [0, 6]', 'bound'],
      [-1, 1, 'clip [-1, 1]', 'bound'],
      [-Infinity, 6, 'clip (-inf, 6]', 'bound'],
      [-Infinity, 6, 'clip (-inf, 6]', 'bound'],
      undefined,
      [0, 6, 'clip [0, 6]', 'bound'],
      [0, 6, 'clip [0, 6]', 'bound'],
      // A max pool of probabilities lies in [0, 1] but need not fill it: a bound, not the exact range.
      [0, 1, 'softmax [0, 1]', 'bound'],
      undefined,
    ]);
  });

  it('looks through ops that keep the values (two float Casts, a Reshape, as torch.onnx.export writes ViT), not through a Cast to int8 or an Add', () => {
    const cast = (from: string, output: string, to: number): NodeProto => ({ opType: 'Cast', input: [from], output: [output], attribute: [{ name: 'to', type: 2, i: to }] });
    const m = model([
      node('Softmax', 'p'),
      cast('p', 'p32', 1),
      cast('p32', 'p16', 10),
      { opType: 'Reshape', input: ['p16', 'shape'], output: ['pr'], attribute: [] },
      cast('p', 'pi', 3),
      { opType: 'Add', input: ['p', 'p'], output: ['pa'], attribute: [] },
    ]);
    expect(knownRanges(m, ['pr', 'pi', 'pa']).map((r) => r?.rule)).toEqual(['softmax [0, 1]', undefined, undefined]);
  });

  it('tells a known-range rule from a method name', () => {
    expect(['softmax [0, 1]', 'tanh [-1, 1]', 'relu [0, inf)', 'clip (-inf, 6]'].map(isKnownRangeRule)).toEqual([true, true, true, true]);
    expect(['entropy', 'percentile 99.99', 'mse', 'auto: mse', 'auto: percentile 99.99', undefined].map(isKnownRangeRule)).toEqual([false, false, false, false, false, false]);
  });
});
