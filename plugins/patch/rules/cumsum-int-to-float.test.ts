// cumsum-int-to-float: numbers before and after in onnxruntime must be identical (integer counts are
// exact in float32 below 2^24), the CumSum must then run on float, and a graph the rule does not
// match must come back byte-identical.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { int64Tensor, intAttr, model, node, run, valueInfo } from '../../../tests/helpers/onnx-build.ts';
import { attrInt, indexGraph } from '../../../src/onnx/graph.ts';
import { decodeModel, encodeModel } from '../../../src/onnx/model-io.ts';
import { makeFloatTensor, makeInt64Tensor } from '../../../src/onnx/tensor.ts';
import { DataType, type ModelProto } from '../../../src/onnx/types.ts';
import { cumsumIntToFloat, knownElemType } from './cumsum-int-to-float.ts';

/** input_ids int64 [1, N] → Cast(INT32) → CumSum(axis 1) → Cast(INT64) → positions. */
function castCumsumModel(cumsumAttrs = [] as ReturnType<typeof intAttr>[]): ModelProto {
  return model({
    nodes: [
      node('Cast', ['input_ids'], ['ids32'], 'to_int32', [intAttr('to', DataType.INT32)]),
      node('CumSum', ['ids32', 'axis'], ['summed'], 'cumsum', cumsumAttrs),
      node('Cast', ['summed'], ['positions'], 'to_int64', [intAttr('to', DataType.INT64)]),
    ],
    inputs: [valueInfo('input_ids', DataType.INT64, [1, 'sequence'])],
    outputs: [valueInfo('positions', DataType.INT64, [1, 'sequence'])],
    initializers: [makeInt64Tensor('axis', [], [1])],
  });
}

/** Decodes an encoded copy, so the rule edits a model as qrun reads it from disk (Long ints and all). */
const roundTrip = (m: ModelProto) => decodeModel(encodeModel(m));

const outputOf = async (m: ModelProto, ids: number[]) => Array.from((await run(m, { input_ids: int64Tensor(ids, [1, ids.length]) })).positions!.data as BigInt64Array, Number);

describe('cumsum-int-to-float', () => {
  const ids = [101, 7592, 1010, 2088, 999, 0, 3, 102];

  it('Cast(INT32) → CumSum: applied, same numbers in onnxruntime, CumSum now reads float', async () => {
    const original = roundTrip(castCumsumModel());
    const before = await outputOf(original, ids);
    expect(before).toEqual(ids.map((_, i) => ids.slice(0, i + 1).reduce((a, b) => a + b, 0)));

    const m = roundTrip(castCumsumModel());
    const outcome = cumsumIntToFloat.apply(m);
    expect(outcome).toEqual({ applied: true, changes: 1, detail: '1 CumSum on INT32 now computed in float' });
    expect(await outputOf(m, ids)).toEqual(before);

    const index = indexGraph(m.graph);
    const cumsum = m.graph.node.find((n) => n.opType === 'CumSum')!;
    const castIn = index.producers.get(cumsum.input[0]!)!;
    expect(castIn.opType).toBe('Cast');
    expect(attrInt(castIn, 'to', 0)).toBe(DataType.FLOAT);
    expect(castIn.input).toEqual(['ids32']);
    expect(cumsum.input[1]).toBe('axis');
    const castBack = index.consumers.get(cumsum.output[0]!)!;
    expect(castBack.map((n) => [n.opType, attrInt(n, 'to', 0), n.output[0]])).toEqual([['Cast', DataType.INT32, 'summed']]);
    expect(knownElemType(m, cumsum.input[0]!)).toBe(DataType.FLOAT);
    // The edited model is still in topological order: Cast to float, CumSum, Cast back, in place.
    expect(m.graph.node.map((n) => n.opType)).toEqual(['Cast', 'Cast', 'CumSum', 'Cast', 'Cast']);
  });

  it('keeps exclusive / reverse attributes: same numbers for each combination', async () => {
    for (const [exclusive, reverse] of [[1, 0], [0, 1], [1, 1]] as const) {
      const attrs = [intAttr('exclusive', exclusive), intAttr('reverse', reverse)];
      const before = await outputOf(roundTrip(castCumsumModel(attrs)), ids);
      const m = roundTrip(castCumsumModel(attrs));
      expect(cumsumIntToFloat.apply(m).applied).toBe(true);
      expect(await outputOf(m, ids), `exclusive=${exclusive} reverse=${reverse}`).toEqual(before);
    }
  });

  it('an int64 graph input fed straight into CumSum (type from the graph input), output a graph output', async () => {
    const make = () =>
      roundTrip(
        model({
          nodes: [node('CumSum', ['input_ids', 'axis'], ['positions'], '')],
          inputs: [valueInfo('input_ids', DataType.INT64, [1, 'sequence'])],
          outputs: [valueInfo('positions', DataType.INT64, [1, 'sequence'])],
          initializers: [makeInt64Tensor('axis', [], [1])],
        }),
      );
    // Sums up to 2^24 are exact in float32: the limit the rule relies on.
    const big = [2 ** 23, 2 ** 22, 2 ** 22 - 1, 1];
    const before = await outputOf(make(), big);
    expect(before[3]).toBe(2 ** 24);
    const m = make();
    expect(cumsumIntToFloat.apply(m)).toMatchObject({ applied: true, changes: 1, detail: expect.stringContaining('INT64') });
    expect(await outputOf(m, big)).toEqual(before);
    expect(m.graph.output.map((o) => o.name)).toEqual(['positions']);
    expect(m.graph.node.at(-1)!.output).toEqual(['positions']);
  });

  it('running it twice changes nothing the second time (the CumSum is already on float)', () => {
    const m = roundTrip(castCumsumModel());
    expect(cumsumIntToFloat.apply(m).applied).toBe(true);
    const once = encodeModel(m);
    const second = cumsumIntToFloat.apply(m);
    expect(second.applied).toBe(false);
    expect(Buffer.compare(Buffer.from(encodeModel(m)), Buffer.from(once))).toBe(0);
  });

  it('a float CumSum is not matched: applied false with a reason, model byte-identical', () => {
    const bytes = encodeModel(
      model({
        nodes: [node('CumSum', ['x', 'axis'], ['y'], 'cumsum')],
        inputs: [valueInfo('x', DataType.FLOAT, [1, 4])],
        outputs: [valueInfo('y', DataType.FLOAT, [1, 4])],
        initializers: [makeInt64Tensor('axis', [], [1])],
      }),
    );
    const m = decodeModel(bytes);
    const outcome = cumsumIntToFloat.apply(m);
    expect(outcome).toEqual({ applied: false, reason: "the graph's 1 CumSum node(s) are not on a known integer type" });
    expect(Buffer.compare(Buffer.from(encodeModel(m)), Buffer.from(bytes))).toBe(0);
  });

  it('a graph without CumSum is not matched and is byte-identical after', () => {
    const bytes = encodeModel(
      model({
        nodes: [node('Add', ['x', 'b'], ['y'], 'add')],
        inputs: [valueInfo('x', DataType.FLOAT, [2])],
        outputs: [valueInfo('y', DataType.FLOAT, [2])],
        initializers: [makeFloatTensor('b', [2], Float32Array.of(1, 2))],
      }),
    );
    const m = decodeModel(bytes);
    expect(cumsumIntToFloat.apply(m)).toEqual({ applied: false, reason: 'the graph has no CumSum' });
    expect(Buffer.compare(Buffer.from(encodeModel(m)), Buffer.from(bytes))).toBe(0);
  });

  it('the shipped BERT (no CumSum) is byte-identical after', () => {
    const bytes = readFileSync('models/bert-langid/onnx/model.onnx');
    const m = decodeModel(bytes);
    expect(cumsumIntToFloat.apply(m).applied).toBe(false);
    expect(Buffer.compare(Buffer.from(encodeModel(m)), bytes)).toBe(0);
  });
});
