// The skeleton reader walks a model file without reading its large tensors, wherever ONNX lets a
// tensor be (initializers, Constant values, subgraph initializers), and the chunked encoder writes
// the same bytes as the exact-size encoder while handing large values out uncopied.
import { open } from 'node:fs/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BERT_ONNX } from '../../tests/helpers/bert-langid.ts';
import { model, node, valueInfo } from '../../tests/helpers/onnx-build.ts';
import { seededRandom, useTempDir } from '../../tests/helpers/temp.ts';
import { encodeChunks, encodeExact } from './fast-encode.ts';
import { forEachTensor, INLINE_SPAN_KEY, mapTensors, readModelSkeleton } from './model-skeleton.ts';
import { decodeModel, encodeModel } from './model-io.ts';
import { ModelProtoType } from './schema.ts';
import { makeFloatTensor } from './tensor.ts';
import { AttributeType, DataType, type ModelProto, type TensorProto } from './types.ts';

const root = useTempDir();
const rand = seededRandom(5);
const values = (n: number) => Float32Array.from({ length: n }, () => rand() - 0.5);

/**
 * y = If(c, then: x + A, else: x + B) + C: A (80 KiB) is an initializer of the then-branch, B a
 * Constant node inside the else-branch, C (80 KiB) a Constant node of the main graph.
 */
function nestedModel(): ModelProto {
  const branch = (name: string, body: Record<string, unknown>) => ({ name, ...body, input: [], output: [valueInfo(`${name}_y`, DataType.FLOAT, [20480])], valueInfo: [] });
  const thenBranch = branch('then', { node: [node('Add', ['x', 'a'], ['then_y'], 'add_a')], initializer: [makeFloatTensor('a', [20480], values(20480))] });
  const elseBranch = branch('else', {
    node: [
      node('Constant', [], ['b'], 'const_b', [{ name: 'value', type: AttributeType.TENSOR, t: makeFloatTensor('', [20480], values(20480)) }]),
      node('Add', ['x', 'b'], ['else_y'], 'add_b'),
    ],
    initializer: [],
  });
  return model({
    nodes: [
      node('Constant', [], ['c_value'], 'const_c', [{ name: 'value', type: AttributeType.TENSOR, t: makeFloatTensor('', [20480], values(20480)) }]),
      node('If', ['c'], ['branch_y'], 'if', [
        { name: 'then_branch', type: AttributeType.GRAPH, g: thenBranch as never },
        { name: 'else_branch', type: AttributeType.GRAPH, g: elseBranch as never },
      ]),
      node('Add', ['branch_y', 'c_value'], ['y'], 'add_c'),
    ],
    inputs: [valueInfo('c', DataType.BOOL, []), valueInfo('x', DataType.FLOAT, [20480])],
    outputs: [valueInfo('y', DataType.FLOAT, [20480])],
    initializers: [makeFloatTensor('small', [4], values(4))],
  });
}

async function skeletonOf(file: string, keepInlineBelow: number) {
  const handle = await open(file, 'r');
  try {
    const size = (await handle.stat()).size;
    return await readModelSkeleton(handle, size, file, 'model.onnx', keepInlineBelow);
  } finally {
    await handle.close();
  }
}

describe('readModelSkeleton', () => {
  it('leaves large raw_data in the file as references, in initializers, Constant values and subgraphs alike', async () => {
    const file = join(root, 'nested.onnx');
    const bytes = encodeModel(nestedModel());
    writeFileSync(file, bytes);
    const skeleton = await skeletonOf(file, 64 * 1024);
    expect(skeleton.spans).toBe(3);
    expect(skeleton.bytes.byteLength).toBeLessThan(2000);

    const decoded = decodeModel(skeleton.bytes);
    const referenced: TensorProto[] = [];
    forEachTensor(decoded, (t) => {
      if (t.externalData?.some((e) => e.key === INLINE_SPAN_KEY)) referenced.push(t);
    });
    expect(referenced.length).toBe(3);
    // Each reference is exactly where the tensor's bytes are in the file.
    const original = decodeModel(bytes);
    const originals: TensorProto[] = [];
    forEachTensor(original, (t) => {
      if ((t.rawData?.byteLength ?? 0) >= 64 * 1024) originals.push(t);
    });
    for (const [k, t] of referenced.entries()) {
      const entry = (key: string) => t.externalData!.find((e) => e.key === key)!.value;
      expect(entry('location')).toBe('model.onnx');
      const span = Buffer.from(bytes).subarray(Number(entry('offset')), Number(entry('offset')) + Number(entry('length')));
      expect(span.equals(Buffer.from(originals[k]!.rawData!))).toBe(true);
    }
    // Put back in place, the references give the original bytes.
    const restored = mapTensors(decoded, (t) => {
      if (!t.externalData?.length) return t;
      const { externalData: _e, dataLocation: _d, ...rest } = t;
      return { ...rest, rawData: originals[referenced.indexOf(t)]!.rawData };
    });
    expect(Buffer.from(encodeModel(restored)).equals(Buffer.from(bytes))).toBe(true);
    expect(Buffer.from(encodeModel(decoded)).equals(Buffer.from(bytes))).toBe(false); // mapTensors copied, did not edit
  });

  it('with nothing to leave out, the skeleton is the file itself', async () => {
    const skeleton = await skeletonOf(BERT_ONNX, 2 ** 31);
    expect(skeleton.spans).toBe(0);
    expect(Buffer.from(skeleton.bytes).equals(readFileSync(BERT_ONNX))).toBe(true);
  });
});

describe('encodeChunks', () => {
  it('concatenates to encodeExact\'s bytes, handing values of at least `min` bytes out as they are', () => {
    const m = decodeModel(readFileSync(BERT_ONNX));
    const exact = Buffer.from(encodeExact(m as never, ModelProtoType));
    const chunks = encodeChunks(m as never, ModelProtoType, 64 * 1024) as Uint8Array[];
    expect(Buffer.concat(chunks).equals(exact)).toBe(true);
    const large = new Set(m.graph.initializer.map((t) => t.rawData).filter((r) => r && r.byteLength >= 64 * 1024));
    expect(large.size).toBe(27);
    expect(chunks.filter((c) => large.has(c)).length).toBe(27); // the tensors' own arrays, not copies
  });
});
