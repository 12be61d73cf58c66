// ONNX protobuf I/O: the schema from onnx-buf in protobufjs must round-trip a real export byte for
// byte (it drops fields it does not know), and unreadable files must fail as ONNX_CORRUPT naming the
// file, never as a protobufjs stack trace.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { seededRandom, useTempDir } from '../../tests/helpers/temp.ts';
import { QrunError } from '../errors.ts';
import { decodeModel, encodeModel } from './model-io.ts';
import { readModelWithData } from '../runtime/model-file.ts';
import { ONNX_SCHEMA_VERSION } from './schema.ts';
import { makeFloatTensor, tensorToFloat32 } from './tensor.ts';
import { DataType, toNumber, type ModelProto } from './types.ts';

const MODEL = fileURLToPath(new URL('../../models/bert-langid/onnx/model.onnx', import.meta.url));
const dir = useTempDir();

/** The QrunError that `fn` throws (fails the test when it throws anything else, or nothing). */
async function qrunErrorOf(fn: () => unknown): Promise<QrunError> {
  try {
    await fn();
  } catch (e) {
    expect(e, `expected a QrunError, got ${String(e)}`).toBeInstanceOf(QrunError);
    return e as QrunError;
  }
  throw new Error('expected an error, nothing was thrown');
}

function tinyModel(): ModelProto {
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'qrun-tests',
    metadataProps: [{ key: 'k', value: 'v' }],
    graph: {
      name: 'g',
      node: [{ opType: 'Add', input: ['x', 'b'], output: ['y'], name: 'add', attribute: [] }],
      initializer: [makeFloatTensor('b', [2], Float32Array.of(1.5, -2))],
      input: [{ name: 'x', type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: 2 }] } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: 2 }] } } } }],
      valueInfo: [],
    },
  };
}

describe('decodeModel / encodeModel', () => {
  it('decode → encode of the shipped BERT export is byte-identical', () => {
    const bytes = readFileSync(MODEL);
    const model = decodeModel(bytes, MODEL);
    const again = encodeModel(model);
    expect(again.byteLength).toBe(bytes.byteLength);
    expect(Buffer.compare(Buffer.from(again.buffer, again.byteOffset, again.byteLength), bytes)).toBe(0);
  });

  it('decodes the shipped model with its interface, opset and int64 fields as Long', async () => {
    const model = await readModelWithData(MODEL);
    expect(typeof model.irVersion).toBe('object'); // Long, not number
    expect(toNumber(model.irVersion)).toBe(8);
    expect(model.opsetImport.map((o) => [o.domain ?? '', toNumber(o.version)])).toEqual([['', 17]]);
    expect(model.graph.input.map((i) => i.name)).toEqual(['input_ids', 'attention_mask', 'token_type_ids']);
    expect(model.graph.output.map((o) => o.name)).toEqual(['logits']);
    expect(model.graph.node.filter((n) => n.opType === 'MatMul')).toHaveLength(32);
    expect(ONNX_SCHEMA_VERSION).toMatch(/^1\.\d+$/);
  });

  it('a model built in code encodes deterministically and decodes to the same values', () => {
    const a = encodeModel(tinyModel());
    const b = encodeModel(tinyModel());
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
    const back = decodeModel(a);
    expect(back.graph.node.map((n) => [n.opType, n.input, n.output])).toEqual([['Add', ['x', 'b'], ['y']]]);
    expect(back.metadataProps).toEqual([{ key: 'k', value: 'v' }]);
    expect(Array.from(tensorToFloat32(back.graph.initializer[0]!))).toEqual([1.5, -2]);
    // Re-encoding what was decoded gives the same bytes again.
    expect(Buffer.compare(Buffer.from(encodeModel(back)), Buffer.from(a))).toBe(0);
  });
});

describe('unreadable models fail as ONNX_CORRUPT naming the file', () => {
  const original = readFileSync(MODEL);

  it('a truncated copy', async () => {
    const file = join(dir, 'truncated.onnx');
    writeFileSync(file, original.subarray(0, Math.floor(original.byteLength / 2)));
    const e = await qrunErrorOf(() => readModelWithData(file));
    expect(e.code).toBe('ONNX_CORRUPT');
    expect(e.message).toContain(file);
    expect(e.diagnostics[0]!.hint).toMatch(/re-export/);
  });

  it('a copy missing only its last byte', async () => {
    const file = join(dir, 'minus-one.onnx');
    writeFileSync(file, original.subarray(0, original.byteLength - 1));
    const e = await qrunErrorOf(() => readModelWithData(file));
    expect(e.code).toBe('ONNX_CORRUPT');
    expect(e.message).toContain(file);
  });

  it('random bytes', async () => {
    const rand = seededRandom(42);
    const file = join(dir, 'random.onnx');
    writeFileSync(file, Uint8Array.from({ length: 4096 }, () => Math.floor(rand() * 256)));
    const e = await qrunErrorOf(() => readModelWithData(file));
    expect(e.code).toBe('ONNX_CORRUPT');
    expect(e.message).toContain(file);
  });

  it('a Git LFS pointer text file, with a hint that names LFS', async () => {
    const file = join(dir, 'lfs-pointer.onnx');
    writeFileSync(
      file,
      'version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 5431879\n',
    );
    const e = await qrunErrorOf(() => readModelWithData(file));
    expect(e.code).toBe('ONNX_CORRUPT');
    expect(e.message).toContain(`cannot read ONNX model ${file}`);
    expect(e.diagnostics[0]!.hint).toMatch(/Git LFS/);
  });

  it('an empty file decodes to nothing and is refused as holding no graph', async () => {
    const file = join(dir, 'empty.onnx');
    writeFileSync(file, new Uint8Array(0));
    const e = await qrunErrorOf(() => readModelWithData(file));
    expect(e.code).toBe('ONNX_CORRUPT');
    expect(e.message).toMatch(/no graph nodes/);
  });

  it('a model without opset_import is refused', async () => {
    const m = tinyModel();
    m.opsetImport = [];
    const e = await qrunErrorOf(() => decodeModel(encodeModel(m), 'no-opset.onnx'));
    expect(e.code).toBe('ONNX_CORRUPT');
    expect(e.message).toMatch(/no-opset\.onnx.*opset_import/);
  });

  it('bytes without a source are named <bytes>', async () => {
    const e = await qrunErrorOf(() => decodeModel(new TextEncoder().encode('not a model at all')));
    expect(e.message).toContain('<bytes>');
  });
});
