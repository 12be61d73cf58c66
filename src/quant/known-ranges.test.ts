import { describe, expect, it } from 'vitest';
import type { ModelProto, NodeProto } from '../onnx/types.ts';
import { isKnownRangeRule, knownRanges } from './known-ranges.ts';

const node = (opType: string, output: string, domain?: string): NodeProto => ({ opType, input: ['x'], output: [output], attribute: [], domain });
const model = (nodes: NodeProto[]) => ({ graph: { node: nodes, initializer: [], input: [], output: [] } }) as unknown as ModelProto;

describe('knownRanges', () => {
  it('Softmax and Sigmoid give [0, 1], Tanh [−1, 1]; other producers, graph inputs and custom-domain ops nothing', () => {
    const m = model([node('Softmax', 'p'), node('Sigmoid', 's'), node('Tanh', 't'), node('Relu', 'r'), node('Softmax', 'c', 'com.example')]);
    expect(knownRanges(m, ['p', 's', 't', 'r', 'c', 'x'])).toEqual([
      { min: 0, max: 1, rule: 'softmax [0, 1]' },
      { min: 0, max: 1, rule: 'sigmoid [0, 1]' },
      { min: -1, max: 1, rule: 'tanh [-1, 1]' },
      undefined,
      undefined,
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
    expect(['softmax [0, 1]', 'tanh [-1, 1]'].map(isKnownRangeRule)).toEqual([true, true]);
    expect(['entropy', 'percentile 99.99', 'mse', undefined].map(isKnownRangeRule)).toEqual([false, false, false, false]);
  });
});
