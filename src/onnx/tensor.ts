// Reading and building TensorProto values. raw_data from protobufjs is a view into the file's buffer
// and is often not aligned to 4 bytes, so typed arrays are built from a copy (or through DataView).
import { DataType, toNumber, type TensorProto } from './types.ts';

export function tensorDims(t: TensorProto): number[] {
  return t.dims.map(toNumber);
}

export function tensorSize(t: TensorProto): number {
  return tensorDims(t).reduce((a, b) => a * b, 1);
}

function alignedCopy(raw: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(raw.byteLength);
  copy.set(raw);
  return copy.buffer;
}

/** The tensor's values as float32, for FLOAT, DOUBLE, FLOAT16-free numeric types used as weights. */
export function tensorToFloat32(t: TensorProto): Float32Array {
  const n = tensorSize(t);
  const type = t.dataType ?? 0;
  if (t.externalData?.length) throw new Error(`tensor ${t.name} uses external data; load it with its folder`);
  if (t.rawData && t.rawData.byteLength > 0) {
    const buf = alignedCopy(t.rawData);
    switch (type) {
      case DataType.FLOAT:
        return new Float32Array(buf, 0, n);
      case DataType.DOUBLE:
        return Float32Array.from(new Float64Array(buf, 0, n));
      case DataType.INT64:
        return Float32Array.from(new BigInt64Array(buf, 0, n), (v) => Number(v));
      case DataType.INT32:
        return Float32Array.from(new Int32Array(buf, 0, n));
      case DataType.INT8:
        return Float32Array.from(new Int8Array(buf, 0, n));
      case DataType.UINT8:
        return Float32Array.from(new Uint8Array(buf, 0, n));
      default:
        throw new Error(`tensor ${t.name}: data type ${type} is not readable as float`);
    }
  }
  if (t.floatData?.length) return Float32Array.from(t.floatData);
  if (t.doubleData?.length) return Float32Array.from(t.doubleData);
  if (t.int32Data?.length) return Float32Array.from(t.int32Data);
  if (t.int64Data?.length) return Float32Array.from(t.int64Data, toNumber);
  if (n === 0) return new Float32Array(0);
  throw new Error(`tensor ${t.name} has no data`);
}

/** int64 values of a tensor (shapes, axes), as plain numbers. */
export function tensorToInts(t: TensorProto): number[] {
  const n = tensorSize(t);
  if (t.rawData && t.rawData.byteLength > 0) {
    const buf = alignedCopy(t.rawData);
    if (t.dataType === DataType.INT64) return Array.from(new BigInt64Array(buf, 0, n), Number);
    if (t.dataType === DataType.INT32) return Array.from(new Int32Array(buf, 0, n));
  }
  if (t.int64Data?.length) return t.int64Data.map(toNumber);
  if (t.int32Data?.length) return [...t.int32Data];
  return Array.from(tensorToFloat32(t));
}

function rawOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

export function makeFloatTensor(name: string, dims: number[], values: Float32Array): TensorProto {
  return { name, dims, dataType: DataType.FLOAT, rawData: rawOf(values) };
}

export function makeInt8Tensor(name: string, dims: number[], values: Int8Array): TensorProto {
  return { name, dims, dataType: DataType.INT8, rawData: rawOf(values) };
}

export function makeUint8Tensor(name: string, dims: number[], values: Uint8Array): TensorProto {
  return { name, dims, dataType: DataType.UINT8, rawData: rawOf(values) };
}

export function makeInt64Tensor(name: string, dims: number[], values: number[]): TensorProto {
  return { name, dims, dataType: DataType.INT64, rawData: rawOf(BigInt64Array.from(values, BigInt)) };
}
