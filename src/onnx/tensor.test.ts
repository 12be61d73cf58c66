// TensorProto readers and builders. raw_data from protobufjs is a view into the file's buffer at any
// byte offset, so readers must not build Float32Array/BigInt64Array views on it directly.
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeModel, encodeModel } from './model-io.ts';
import { readModelWithData } from '../runtime/model-file.ts';
import { makeFloatTensor, makeInt64Tensor, makeInt8Tensor, makeUint8Tensor, tensorDims, tensorSize, tensorToFloat32, tensorToInts } from './tensor.ts';
import { DataType, type Int64, type TensorProto } from './types.ts';

const Long = protobuf.util.Long as unknown as { fromNumber(n: number): Int64 };

/** `bytes` copied into a fresh buffer at `offset`, returned as a view starting there. */
function viewAt(bytes: Uint8Array, offset: number): Uint8Array {
  const backing = new Uint8Array(bytes.byteLength + offset + 3).fill(0xab);
  backing.set(bytes, offset);
  return new Uint8Array(backing.buffer, offset, bytes.byteLength);
}

const bytesOf = (v: ArrayBufferView) => new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));

describe('tensorToFloat32 on raw_data', () => {
  it('reads float32 raw_data that starts at an odd byte offset', () => {
    const values = Float32Array.of(1.25, -3.5, 1e-7, 65504, -0);
    const raw = viewAt(bytesOf(values), 1);
    expect(raw.byteOffset % 4).toBe(1);
    // A direct Float32Array view on this would throw a RangeError; the reader must copy.
    expect(() => new Float32Array(raw.buffer, raw.byteOffset, 5)).toThrow(RangeError);
    const t: TensorProto = { name: 'w', dims: [5], dataType: DataType.FLOAT, rawData: raw };
    expect(Array.from(tensorToFloat32(t))).toEqual(Array.from(values));
  });

  it.each([1, 2, 3, 5, 7])('reads int64 raw_data at byte offset %i, as floats and as ints', (offset) => {
    const values = [0, 1, -1, 2 ** 40, -(2 ** 31) - 5];
    const raw = viewAt(bytesOf(BigInt64Array.from(values, BigInt)), offset);
    const t: TensorProto = { name: 'shape', dims: [5], dataType: DataType.INT64, rawData: raw };
    expect(tensorToInts(t)).toEqual(values);
    expect(Array.from(tensorToFloat32(t))).toEqual(values.map(Math.fround));
  });

  it('reads int32, int8, uint8 and double raw_data at odd offsets', () => {
    const i32: TensorProto = { dims: [3], dataType: DataType.INT32, rawData: viewAt(bytesOf(Int32Array.of(-7, 0, 123456)), 3) };
    expect(tensorToInts(i32)).toEqual([-7, 0, 123456]);
    expect(Array.from(tensorToFloat32(i32))).toEqual([-7, 0, 123456]);
    const i8: TensorProto = { dims: [3], dataType: DataType.INT8, rawData: viewAt(bytesOf(Int8Array.of(-128, 5, 127)), 1) };
    expect(Array.from(tensorToFloat32(i8))).toEqual([-128, 5, 127]);
    const u8: TensorProto = { dims: [2], dataType: DataType.UINT8, rawData: viewAt(Uint8Array.of(0, 255), 1) };
    expect(Array.from(tensorToFloat32(u8))).toEqual([0, 255]);
    const f64: TensorProto = { dims: [2], dataType: DataType.DOUBLE, rawData: viewAt(bytesOf(Float64Array.of(0.5, -1e10)), 5) };
    expect(Array.from(tensorToFloat32(f64))).toEqual([0.5, Math.fround(-1e10)]);
  });

  it('reads only the tensor’s own bytes, not the rest of the buffer behind the view', () => {
    const raw = viewAt(bytesOf(Float32Array.of(2, 4)), 1);
    const t: TensorProto = { dims: [2], dataType: DataType.FLOAT, rawData: raw };
    expect(tensorToFloat32(t)).toHaveLength(2);
  });

  it('refuses data types it cannot read as float, and external data', () => {
    expect(() => tensorToFloat32({ name: 's', dims: [1], dataType: DataType.STRING, rawData: Uint8Array.of(1) })).toThrow(/data type 8/);
    expect(() => tensorToFloat32({ name: 'e', dims: [1], dataType: DataType.FLOAT, externalData: [{ key: 'location', value: 'w.bin' }] })).toThrow(/external data/);
    expect(() => tensorToFloat32({ name: 'none', dims: [2], dataType: DataType.FLOAT })).toThrow(/no data/);
  });
});

describe('typed fields and dims', () => {
  it('int64 dims as Long give plain numbers and the element count', () => {
    const t: TensorProto = { dims: [Long.fromNumber(2), Long.fromNumber(3), 4], dataType: DataType.FLOAT, floatData: new Array(24).fill(0) };
    expect(tensorDims(t)).toEqual([2, 3, 4]);
    expect(tensorSize(t)).toBe(24);
    expect(tensorSize({ dims: [], dataType: DataType.FLOAT })).toBe(1); // a scalar
  });

  it('reads float_data, double_data, int32_data and int64_data (as Long) fields', () => {
    expect(Array.from(tensorToFloat32({ dims: [2], dataType: DataType.FLOAT, floatData: [0.5, -2] }))).toEqual([0.5, -2]);
    expect(Array.from(tensorToFloat32({ dims: [1], dataType: DataType.DOUBLE, doubleData: [3.25] }))).toEqual([3.25]);
    expect(tensorToInts({ dims: [2], dataType: DataType.INT32, int32Data: [4, -4] })).toEqual([4, -4]);
    const longs: TensorProto = { dims: [Long.fromNumber(3)], dataType: DataType.INT64, int64Data: [Long.fromNumber(-1), Long.fromNumber(2 ** 33), 7] };
    expect(tensorToInts(longs)).toEqual([-1, 2 ** 33, 7]);
    expect(Array.from(tensorToFloat32(longs))).toEqual([-1, 2 ** 33, 7]);
    expect(tensorToFloat32({ dims: [0], dataType: DataType.FLOAT })).toHaveLength(0);
  });
});

describe('make*Tensor', () => {
  it('take only the given view of a larger buffer, and survive encode → decode', () => {
    const big = Float32Array.of(9, 9, 1, 2, 3, 9);
    const f = makeFloatTensor('f', [3], big.subarray(2, 5));
    expect(f.rawData!.byteLength).toBe(12);
    const i8 = makeInt8Tensor('q', [2, 2], Int8Array.of(-127, 0, 1, 127));
    const u8 = makeUint8Tensor('z', [], Uint8Array.of(128));
    const i64 = makeInt64Tensor('s', [2], [-1, 2 ** 40]);
    const m = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      metadataProps: [],
      graph: {
        node: [{ opType: 'Identity', input: ['f'], output: ['y'], name: 'n', attribute: [] }],
        initializer: [f, i8, u8, i64],
        input: [],
        output: [{ name: 'y' }],
        valueInfo: [],
      },
    };
    const back = decodeModel(encodeModel(m)).graph.initializer;
    expect(back.map((t) => [t.name, t.dataType, tensorDims(t)])).toEqual([
      ['f', DataType.FLOAT, [3]],
      ['q', DataType.INT8, [2, 2]],
      ['z', DataType.UINT8, []],
      ['s', DataType.INT64, [2]],
    ]);
    expect(Array.from(tensorToFloat32(back[0]!))).toEqual([1, 2, 3]);
    expect(Array.from(tensorToFloat32(back[1]!))).toEqual([-127, 0, 1, 127]);
    expect(Array.from(tensorToFloat32(back[2]!))).toEqual([128]);
    expect(tensorToInts(back[3]!)).toEqual([-1, 2 ** 40]);
  });
});

describe('the shipped model’s initializers', () => {
  it('are read correctly although most raw_data views are unaligned', async () => {
    const model = await readModelWithData('models/bert-langid/onnx/model.onnx');
    const floats = model.graph.initializer.filter((t) => t.dataType === DataType.FLOAT && t.rawData?.byteLength);
    expect(floats.some((t) => t.rawData!.byteOffset % 4 !== 0)).toBe(true);
    for (const t of floats) {
      const got = tensorToFloat32(t);
      expect(got.length).toBe(tensorSize(t));
      const dv = new DataView(t.rawData!.buffer, t.rawData!.byteOffset, t.rawData!.byteLength);
      // Spot-check first, middle and last elements through a DataView (little-endian, as ONNX stores them).
      for (const i of [0, Math.floor(got.length / 2), got.length - 1]) expect(got[i]).toBe(dv.getFloat32(i * 4, true));
    }
  });
});
