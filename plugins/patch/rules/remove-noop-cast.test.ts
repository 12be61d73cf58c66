// remove-noop-cast: a Cast to its input's own type goes (same numbers in onnxruntime); a real
// conversion, a Cast of unknown input type and a Cast producing a graph output stay.
import { describe, expect, it } from 'vitest';
import { model, node, run, valueInfo, int64Tensor } from '../../../tests/helpers/onnx-build.ts';
import { encodeModel } from '../../../src/onnx/model-io.ts';
import { DataType, type ModelProto } from '../../../src/onnx/types.ts';
import { removeNoopCast } from './remove-noop-cast.ts';

const to = (t: number) => [{ name: 'to', type: 2, i: t }];

/** ids(int64) → Cast(int64) → Cast(float) → Cast(float) → Mul … ; Relu(unknown type) → Cast(float) → y2 */
function castModel(): ModelProto {
  return model({
    nodes: [
      node('Cast', ['ids'], ['ids64'], 'noop_int64', to(DataType.INT64)),
      node('Cast', ['ids64'], ['f'], 'to_float', to(DataType.FLOAT)),
      node('Cast', ['f'], ['f2'], 'noop_float', to(DataType.FLOAT)),
      node('Mul', ['f2', 'f'], ['y'], 'mul'),
      node('Neg', ['f2'], ['n'], 'neg'),
      node('Cast', ['n'], ['y2'], 'cast_output', to(DataType.FLOAT)),
    ],
    inputs: [valueInfo('ids', DataType.INT64, [2])],
    outputs: [valueInfo('y', DataType.FLOAT, [2]), valueInfo('y2', DataType.FLOAT, [2])],
  });
}

describe('remove-noop-cast', () => {
  it('removes Casts to the known same type (graph input, earlier Cast), keeps the rest; same numbers', async () => {
    const m = castModel();
    const feeds = { ids: int64Tensor([3, -2], [2]) };
    const before = await run(m, feeds);
    expect(removeNoopCast.apply(m)).toEqual({ applied: true, changes: 2, detail: '2 no-op Cast node(s) removed' });
    expect(m.graph.node.map((n) => n.name)).toEqual(['to_float', 'mul', 'neg', 'cast_output']);
    expect(m.graph.node[0]!.input).toEqual(['ids']);
    expect(m.graph.node[1]!.input).toEqual(['f', 'f']);
    const after = await run(m, feeds);
    expect(Array.from(after.y!.data as Float32Array)).toEqual(Array.from(before.y!.data as Float32Array));
    expect(Array.from(after.y2!.data as Float32Array)).toEqual([-3, 2]);
  });

  it('a graph whose Casts all convert is byte-identical after, with the reason', () => {
    const m = model({
      nodes: [node('Cast', ['ids'], ['y'], 'c1', to(DataType.FLOAT))],
      inputs: [valueInfo('ids', DataType.INT64, [2])],
      outputs: [valueInfo('y', DataType.FLOAT, [2])],
    });
    const bytes = encodeModel(m);
    expect(removeNoopCast.apply(m)).toEqual({ applied: false, reason: 'none of the 1 Cast node(s) is known to cast to its input\'s own type' });
    expect(Buffer.from(encodeModel(m)).equals(Buffer.from(bytes))).toBe(true);
  });
});
