// The exact-size encoder must write what protobufjs writes, byte for byte, on decoded models and on
// models qrun builds or edits (plain objects, numbers where protobufjs would have Longs, negatives).
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REPO } from '../../tests/helpers/cli.ts';
import { placeQdqForTensorRT } from '../quant/place-qdq.ts';
import { decodeModel, encodeModel, encodeModelWithProtobufjs } from './model-io.ts';
import type { ModelProto } from './types.ts';

const files = execSync("find models tests/fixtures src/export/fixtures -name '*.onnx'", { cwd: REPO }).toString().trim().split('\n').sort();

const same = (m: ModelProto) => Buffer.compare(Buffer.from(encodeModel(m)), Buffer.from(encodeModelWithProtobufjs(m)));

describe('encodeModel (exact-size encoder)', () => {
  it('finds the repository models', () => {
    expect(files.length).toBeGreaterThanOrEqual(20);
  });

  it.each(files)('%s: identical to protobufjs and to the file', (file) => {
    const bytes = readFileSync(`${REPO}/${file}`);
    const model = decodeModel(bytes, file);
    expect(same(model)).toBe(0);
    expect(Buffer.compare(Buffer.from(encodeModel(model)), bytes)).toBe(0);
  });

  it('identical to protobufjs on a model qrun edited (QDQ placement with new plain-object nodes and tensors)', () => {
    const model = decodeModel(readFileSync(`${REPO}/models/bert-langid/onnx/model.onnx`));
    placeQdqForTensorRT(model, { ops: ['MatMul', 'Gemm'], excludeOps: [], excludeNodes: [], activations: 'int8', weights: 'per-channel', attentionMatMuls: true } as Parameters<typeof placeQdqForTensorRT>[1]);
    expect(same(model)).toBe(0);
  });

  it('identical on negative int64 and int32 values, packed arrays, strings and unknown fields', () => {
    const model = decodeModel(readFileSync(`${REPO}/models/bert-langid/onnx/model.onnx`));
    const node = model.graph.node[0]!;
    node.attribute.push({ name: 'neg', type: 2, i: -1 }, { name: 'negs', type: 7, ints: [-1, 0, 2 ** 40, -(2 ** 40)] }, { name: 'f', type: 1, f: -0.5 });
    model.graph.initializer.push({ name: 'packed', dims: [3], dataType: 1, floatData: [1.5, -2, 0] }, { name: 'i64', dims: [2], dataType: 7, int64Data: [-3, 5] });
    model.docString = 'ünïcödé ✓';
    (model as unknown as { $unknowns: Uint8Array[] }).$unknowns = [Uint8Array.of(0xa0, 0x06, 0x01)];
    expect(same(model)).toBe(0);
  });
});
