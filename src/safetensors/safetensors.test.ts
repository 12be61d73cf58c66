// The safetensors reader on files written here (F32/F16/BF16, metadata, shards, every kind of
// damage) and on the shipped checkpoint, whose tensors must equal the PyTorch ONNX export's.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { readModelWithData } from '../runtime/model-file.ts';
import { tensorToFloat32 } from '../onnx/tensor.ts';
import { Checkpoint, halfToFloat, SafetensorsFile, toFloat32 } from './index.ts';
import { encodeSafetensors, f32 } from './safetensors-writer.ts';

const MODEL_DIR = fileURLToPath(new URL('../../models/bert-langid', import.meta.url));
const tmp = useTempDir();
let n = 0;
function write(bytes: Uint8Array, name = `t${n++}.safetensors`): string {
  const file = join(tmp, name);
  writeFileSync(file, bytes);
  return file;
}
const u16 = (values: number[]) => new Uint8Array(Uint16Array.from(values).buffer);

async function expectError(promise: Promise<unknown>, code: string, ...fragments: string[]) {
  const error = (await promise.then(() => undefined, (e: unknown) => e)) as { code?: string; message?: string } | undefined;
  expect(error, 'expected an error').toBeDefined();
  expect(error!.code).toBe(code);
  for (const f of fragments) expect(error!.message).toContain(f);
}

describe('SafetensorsFile', () => {
  it('reads F32, F16 and BF16 tensors as float32, and the metadata', async () => {
    const file = write(
      encodeSafetensors(
        {
          a: f32([2, 2], [1, -2, 3.5, 1e-3]),
          // F16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff (max), 2^-24 = 0x0001 (smallest subnormal)
          h: { dtype: 'F16', shape: [4], data: u16([0x3c00, 0xc000, 0x7bff, 0x0001]) },
          // BF16: the top 16 bits of float32 1.0 (0x3f80) and -0.15625 (0xbe20)
          b: { dtype: 'BF16', shape: [2], data: u16([0x3f80, 0xbe20]) },
        },
        { format: 'pt' },
      ),
    );
    const st = await SafetensorsFile.open(file);
    try {
      expect(st.metadata).toEqual({ format: 'pt' });
      expect([...st.tensors.keys()].sort()).toEqual(['a', 'b', 'h']);
      expect(st.tensors.get('a')!.shape).toEqual([2, 2]);
      expect(Array.from(await st.readFloat32('a'))).toEqual(Array.from(Float32Array.of(1, -2, 3.5, 1e-3)));
      expect(Array.from(await st.readFloat32('h'))).toEqual([1, -2, 65504, 2 ** -24]);
      expect(Array.from(await st.readFloat32('b'))).toEqual([1, -0.15625]);
    } finally {
      await st.close();
    }
  });

  it('converts half-precision infinities and NaN', () => {
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(halfToFloat(0xfc00)).toBe(-Infinity);
    expect(halfToFloat(0x7e00)).toBeNaN();
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
  });

  it('widens F16 tensors (by table) to exactly halfToFloat of every one of the 65,536 bit patterns, at an odd byte offset too', () => {
    const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const bytes = new Uint8Array(bits.buffer);
    const odd = new Uint8Array(bytes.length + 1);
    odd.set(bytes, 1);
    for (const view of [bytes, odd.subarray(1)]) {
      const out = toFloat32(view, 'F16');
      const wrong = Array.from(bits).filter((h) => !Object.is(out[h], Math.fround(halfToFloat(h))));
      expect(wrong).toEqual([]);
    }
  });

  it('refuses integer tensors with a clear error when read as weights', async () => {
    const file = write(encodeSafetensors({ ids: { dtype: 'I64', shape: [1], data: new Uint8Array(8) } }));
    const st = await SafetensorsFile.open(file);
    await expectError(st.readFloat32('ids'), 'SAFETENSORS_DTYPE', 'ids', 'I64', file);
    await st.close();
  });

  it('names the file when it is truncated, in the data or in the header', async () => {
    const whole = encodeSafetensors({ a: f32([4], [1, 2, 3, 4]), b: f32([4], [5, 6, 7, 8]) });
    const cut = write(whole.subarray(0, whole.length - 5));
    await expectError(SafetensorsFile.open(cut), 'SAFETENSORS_CORRUPT', cut, 'tensor "b"', 'past the end');
    const headerCut = write(whole.subarray(0, 20));
    await expectError(SafetensorsFile.open(headerCut), 'SAFETENSORS_CORRUPT', headerCut, 'truncated');
    const tiny = write(whole.subarray(0, 3));
    await expectError(SafetensorsFile.open(tiny), 'SAFETENSORS_CORRUPT', tiny, 'shorter than the 8-byte header length');
  });

  it('refuses a header length above the 100 MB limit (e.g. a Git LFS pointer or another format)', async () => {
    const lfs = write(Buffer.from('version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n'));
    await expectError(SafetensorsFile.open(lfs), 'SAFETENSORS_CORRUPT', lfs, 'above the 100000000-byte limit');
  });

  it('refuses offsets that do not match the shape or overlap nothing sensible', async () => {
    const header = (entry: object) => {
      const json = Buffer.from(JSON.stringify({ w: entry }));
      const prefix = Buffer.alloc(8);
      prefix.writeBigUInt64LE(BigInt(json.length));
      return Buffer.concat([prefix, json, Buffer.alloc(16)]);
    };
    const wrongSize = write(header({ dtype: 'F32', shape: [2], data_offsets: [0, 12] }));
    await expectError(SafetensorsFile.open(wrongSize), 'SAFETENSORS_CORRUPT', wrongSize, 'needs 8');
    const outside = write(header({ dtype: 'F32', shape: [8], data_offsets: [0, 32] }));
    await expectError(SafetensorsFile.open(outside), 'SAFETENSORS_CORRUPT', outside, 'past the end of the data (16 bytes');
    const badDtype = write(header({ dtype: 'F33', shape: [2], data_offsets: [0, 8] }));
    await expectError(SafetensorsFile.open(badDtype), 'SAFETENSORS_CORRUPT', 'unknown dtype "F33"');
    const notJson = Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{oops')]);
    await expectError(SafetensorsFile.open(write(notJson)), 'SAFETENSORS_CORRUPT', 'not valid JSON');
  });
});

describe('Checkpoint', () => {
  it('reads the shipped checkpoint: every tensor equals the PyTorch ONNX export initializer', async () => {
    const checkpoint = await Checkpoint.open(MODEL_DIR);
    const onnx = await readModelWithData(join(MODEL_DIR, 'onnx/model.onnx'));
    try {
      expect(checkpoint.names()).toHaveLength(73);
      // torch.onnx.export names the initializers it keeps as `m.<parameter name>`.
      const exported = onnx.graph.initializer.filter((t) => t.name?.startsWith('m.bert.'));
      expect(exported.length).toBeGreaterThan(10);
      for (const t of exported) {
        const ours = await checkpoint.readFloat32(t.name!.slice(2));
        // Byte equality (fast, and stricter than toEqual on half a million floats).
        expect(Buffer.from(ours.buffer).equals(Buffer.from(tensorToFloat32(t).buffer)), t.name).toBe(true);
      }
    } finally {
      await checkpoint.close();
    }
  });

  it('reads a sharded checkpoint through model.safetensors.index.json', async () => {
    const dir = join(tmp, 'sharded');
    mkdirSync(dir);
    writeFileSync(join(dir, 'model-00001-of-00002.safetensors'), encodeSafetensors({ a: f32([2], [1, 2]) }));
    writeFileSync(join(dir, 'model-00002-of-00002.safetensors'), encodeSafetensors({ b: f32([1], [3]) }));
    const index = { metadata: { total_size: 12 }, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } };
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
    const checkpoint = await Checkpoint.open(dir);
    expect(checkpoint.names()).toEqual(['a', 'b']);
    expect(Array.from(await checkpoint.readFloat32('b'))).toEqual([3]);
    await expectError(checkpoint.readFloat32('c'), 'CHECKPOINT_TENSOR_MISSING', '"c"', 'model.safetensors.index.json');
    await checkpoint.close();

    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { ...index.weight_map, c: 'model-00003-of-00003.safetensors' } }));
    await expectError(Checkpoint.open(dir), 'SAFETENSORS_INDEX_INVALID', 'model-00003-of-00003.safetensors is missing');
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: 'model-00002-of-00002.safetensors' } }));
    await expectError(Checkpoint.open(dir), 'SAFETENSORS_INDEX_INVALID', 'tensor "a" is not in model-00002-of-00002.safetensors');
  });

  it('says where it looked when a folder holds no checkpoint', async () => {
    await expectError(Checkpoint.open(tmp + '/nowhere'), 'CHECKPOINT_NOT_FOUND', 'model.safetensors.index.json');
  });
});
