// Graph helpers: indexing, fresh names, attributes and topological order.
import { describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import { intAttr, model, node, valueInfo } from '../../tests/helpers/onnx-build.ts';
import { attrInt, attrInts, indexGraph, opsetVersion, topologicalOrder, uniqueName, usedNames } from './graph.ts';
import { makeFloatTensor } from './tensor.ts';
import { AttributeType, DataType, type Int64 } from './types.ts';

const Long = protobuf.util.Long as unknown as { fromNumber(n: number): Int64 };

const diamond = () =>
  model({
    nodes: [
      node('Add', ['l', 'r'], ['y'], 'join'),
      node('Relu', ['x'], ['l'], 'left'),
      node('Neg', ['x'], ['r'], 'right'),
    ],
    inputs: [valueInfo('x', DataType.FLOAT, [2])],
    outputs: [valueInfo('y', DataType.FLOAT, [2])],
    initializers: [makeFloatTensor('w', [1], Float32Array.of(1))],
  });

describe('graph helpers', () => {
  it('indexGraph maps producers, consumers, initializers and the interface', () => {
    const g = diamond().graph;
    const index = indexGraph(g);
    expect(index.producers.get('l')?.name).toBe('left');
    expect(index.consumers.get('x')?.map((n) => n.name)).toEqual(['left', 'right']);
    expect([...index.initializers.keys()]).toEqual(['w']);
    expect([...index.graphInputs]).toEqual(['x']);
    expect([...index.graphOutputs]).toEqual(['y']);
  });

  it('topologicalOrder orders producers first, keeps the original order among ready nodes', () => {
    expect(topologicalOrder(diamond().graph).map((n) => n.name)).toEqual(['left', 'right', 'join']);
  });

  it('topologicalOrder names the node and the missing tensor of a dangling input', () => {
    const m = diamond();
    m.graph.node[0]!.input = ['l', 'nowhere'];
    expect(() => topologicalOrder(m.graph)).toThrow(/node join needs nowhere$/);
  });

  it('uniqueName never returns a name in use, and reserves what it returns', () => {
    const used = usedNames(diamond().graph);
    expect(used).toEqual(new Set(['w', 'x', 'y', 'join', 'left', 'right', 'l', 'r']));
    expect(uniqueName(used, 'l')).toBe('l_1');
    expect(uniqueName(used, 'l')).toBe('l_2');
    expect(uniqueName(used, 'fresh')).toBe('fresh');
    expect(uniqueName(used, 'fresh')).toBe('fresh_1');
  });

  it('attributes and opset versions read numbers or Longs', () => {
    const n = node('Cast', ['x'], ['y'], 'c', [
      intAttr('to', DataType.FLOAT),
      { name: 'big', type: AttributeType.INT, i: Long.fromNumber(2 ** 40) },
      { name: 'axes', type: AttributeType.INTS, ints: [Long.fromNumber(-1), 2] },
    ]);
    expect(attrInt(n, 'to', 0)).toBe(DataType.FLOAT);
    expect(attrInt(n, 'big', 0)).toBe(2 ** 40);
    expect(attrInt(n, 'missing', 7)).toBe(7);
    expect(attrInts(n, 'axes')).toEqual([-1, 2]);
    expect(attrInts(n, 'missing')).toBeUndefined();
    const m = model({ nodes: [n], inputs: [], outputs: [] });
    m.opsetImport = [{ domain: '', version: Long.fromNumber(17) }, { domain: 'com.microsoft', version: 1 }];
    expect(opsetVersion(m)).toBe(17);
    expect(opsetVersion(m, 'com.microsoft')).toBe(1);
    expect(opsetVersion(m, 'ai.onnx.ml')).toBe(0);
  });
});
