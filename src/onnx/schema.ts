// The ONNX protobuf schema, taken from the maintained `onnx-buf` package (ONNX 1.20's onnx.proto,
// compiled for @bufbuild/protobuf). We take only its serialized FileDescriptorProto and load it into
// protobufjs, so qrun reads and writes with protobufjs and no .proto file is copied into the project.
// A current schema matters: protobufjs silently drops fields it does not know, so an old schema would
// lose data on a decode → encode round trip.
import { file_onnx } from 'onnx-buf';
import { toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';

interface DescriptorExt {
  FileDescriptorProto: { decode(bytes: Uint8Array): unknown };
}
interface RootWithDescriptor {
  fromDescriptor(set: { file: unknown[] }): protobuf.Root;
}

function loadOnnxRoot(): protobuf.Root {
  const bytes = toBinary(FileDescriptorProtoSchema, file_onnx.proto);
  const fdp = (descriptor as unknown as DescriptorExt).FileDescriptorProto.decode(bytes);
  return (protobuf.Root as unknown as RootWithDescriptor).fromDescriptor({ file: [fdp] });
}

export const onnxRoot = loadOnnxRoot();
export const ModelProtoType = onnxRoot.lookupType('onnx.ModelProto');
export const TensorProtoType = onnxRoot.lookupType('onnx.TensorProto');
/** ONNX schema version this build of qrun reads and writes. */
export const ONNX_SCHEMA_VERSION = '1.20';
