// remove-identity: consumers are rewired past Identity nodes, an Identity that names a graph output
// stays, the numbers do not change, and a graph with nothing to remove is byte-identical after.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { floatTensor, model, node, run, valueInfo } from '../../../tests/helpers/onnx-build.ts';
import { decodeModel, encodeModel } from '../../../src/onnx/model-io.ts';
import { makeFloatTensor } from '../../../src/onnx/tensor.ts';
import { DataType, type ModelProto } from '../../../src/onnx/types.ts';
import { removeIdentity } from './remove-identity.ts';

const roundTrip = (m: ModelProto) => decodeModel(encodeModel(m));

/**
 *   x → Identity(a) → Relu(r) → Identity(r1) → Identity(r2) → Add(+b) → s → Identity → y   (graph output)
 *                                    r1 ───────────────────────────→ Mul(×2) → z                (graph output)
 */
function chainModel(): ModelProto {
  return model({
    nodes: [
      node('Identity', ['x'], ['a'], 'id_a'),
      node('Relu', ['a'], ['r'], 'relu'),
      node('Identity', ['r'], ['r1'], 'id_r1'),
      node('Identity', ['r1'], ['r2'], 'id_r2'),
      node('Add', ['r2', 'b'], ['s'], 'add'),
      node('Identity', ['s'], ['y'], 'id_out'),
      node('Mul', ['r1', 'two'], ['z'], 'mul'),
    ],
    inputs: [valueInfo('x', DataType.FLOAT, [2, 3])],
    outputs: [valueInfo('y', DataType.FLOAT, [2, 3]), valueInfo('z', DataType.FLOAT, [2, 3])],
    initializers: [makeFloatTensor('b', [3], Float32Array.of(0.5, -1, 2)), makeFloatTensor('two', [], Float32Array.of(2))],
    valueInfo: [valueInfo('a', DataType.FLOAT, [2, 3]), valueInfo('r', DataType.FLOAT, [2, 3]), valueInfo('r2', DataType.FLOAT, [2, 3])],
  });
}

const X = floatTensor([-1, 0.5, 2, -3, 4, 0], [2, 3]);
const values = async (m: ModelProto) => {
  const out = await run(m, { x: X });
  return { y: Array.from(out.y!.data as Float32Array), z: Array.from(out.z!.data as Float32Array) };
};

describe('remove-identity', () => {
  it('removes the inner Identity nodes, keeps the one that produces a graph output, same numbers', async () => {
    const before = await values(roundTrip(chainModel()));
    expect(before.y).toEqual([0.5, -0.5, 4, 0.5, 3, 2]);

    const m = roundTrip(chainModel());
    expect(removeIdentity.apply(m)).toEqual({ applied: true, changes: 3, detail: '3 Identity node(s) removed' });
    expect(await values(m)).toEqual(before);

    expect(m.graph.node.map((n) => n.name)).toEqual(['relu', 'add', 'id_out', 'mul']);
    const byName = (n: string) => m.graph.node.find((x) => x.name === n)!;
    expect(byName('relu').input).toEqual(['x']);
    expect(byName('add').input).toEqual(['r', 'b']); // through two Identities in a row
    expect(byName('mul').input).toEqual(['r', 'two']);
    expect(byName('id_out').output).toEqual(['y']);
    expect(m.graph.output.map((o) => o.name)).toEqual(['y', 'z']);
    // value_info of the removed tensors goes; that of kept tensors stays.
    expect(m.graph.valueInfo.map((v) => v.name)).toEqual(['r']);
  });

  it('an Identity whose only job is to name a graph output is not matched: byte-identical', async () => {
    const bytes = encodeModel(
      model({
        nodes: [node('Relu', ['x'], ['r'], 'relu'), node('Identity', ['r'], ['y'], 'id_out')],
        inputs: [valueInfo('x', DataType.FLOAT, [2, 3])],
        outputs: [valueInfo('y', DataType.FLOAT, [2, 3])],
      }),
    );
    const m = decodeModel(bytes);
    expect(removeIdentity.apply(m)).toEqual({ applied: false, reason: 'no removable Identity node' });
    expect(Buffer.compare(Buffer.from(encodeModel(m)), Buffer.from(bytes))).toBe(0);
    const out = await run(m, { x: X });
    expect(Array.from(out.y!.data as Float32Array)).toEqual([0, 0.5, 2, 0, 4, 0]);
  });

  it('an Identity reading an initializer is bypassed to the initializer', async () => {
    const make = () =>
      roundTrip(
        model({
          nodes: [node('Identity', ['b'], ['b2'], 'id_w'), node('Add', ['x', 'b2'], ['y'], 'add')],
          inputs: [valueInfo('x', DataType.FLOAT, [2, 3])],
          outputs: [valueInfo('y', DataType.FLOAT, [2, 3])],
          initializers: [makeFloatTensor('b', [3], Float32Array.of(1, 2, 3))],
        }),
      );
    const before = Array.from((await run(make(), { x: X })).y!.data as Float32Array);
    const m = make();
    expect(removeIdentity.apply(m).applied).toBe(true);
    expect(m.graph.node.map((n) => [n.opType, n.input])).toEqual([['Add', ['x', 'b']]]);
    expect(Array.from((await run(m, { x: X })).y!.data as Float32Array)).toEqual(before);
  });

  it('a graph with subgraphs is refused with a reason and left byte-identical', () => {
    const branch = (value: number) => ({
      name: `branch${value}`,
      node: [node('Identity', ['c'], [`out${value}`], `inner${value}`)],
      initializer: [makeFloatTensor('c', [1], Float32Array.of(value))],
      input: [],
      output: [valueInfo(`out${value}`, DataType.FLOAT, [1])],
      valueInfo: [],
    });
    const bytes = encodeModel(
      model({
        nodes: [
          node('Identity', ['cond'], ['cond2'], 'id_cond'),
          node('If', ['cond2'], ['y'], 'if', [
            { name: 'then_branch', type: 5, g: branch(1) },
            { name: 'else_branch', type: 5, g: branch(0) },
          ]),
        ],
        inputs: [valueInfo('cond', DataType.BOOL, [])],
        outputs: [valueInfo('y', DataType.FLOAT, [1])],
      }),
    );
    const m = decodeModel(bytes);
    const outcome = removeIdentity.apply(m);
    expect(outcome.applied).toBe(false);
    expect(outcome.applied === false && outcome.reason).toMatch(/subgraphs/);
    expect(Buffer.compare(Buffer.from(encodeModel(m)), Buffer.from(bytes))).toBe(0);
  });

  it('the shipped BERT (no Identity) is not matched and byte-identical after', () => {
    const bytes = readFileSync('models/bert-langid/onnx/model.onnx');
    const m = decodeModel(bytes);
    expect(removeIdentity.apply(m).applied).toBe(false);
    expect(Buffer.compare(Buffer.from(encodeModel(m)), bytes)).toBe(0);
  });
});
