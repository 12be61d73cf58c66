// Tiny ONNX models built in tests (opset 17, IR 8), and running them in onnxruntime-node, so graph
// edits can be checked by numbers before and after.
import ort from 'onnxruntime-node';
import { encodeModel } from '../../src/onnx/model-io.ts';
import { AttributeType, type AttributeProto, type Dimension, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../../src/onnx/types.ts';
import { createSession } from '../../src/runtime/session.ts';

export function valueInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfoProto {
  const dim: Dimension[] = dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

export function node(opType: string, input: string[], output: string[], name: string, attribute: AttributeProto[] = []): NodeProto {
  return { opType, input, output, name, attribute };
}

export function intAttr(name: string, i: number): AttributeProto {
  return { name, type: AttributeType.INT, i };
}

export function model(parts: { nodes: NodeProto[]; inputs: ValueInfoProto[]; outputs: ValueInfoProto[]; initializers?: TensorProto[]; valueInfo?: ValueInfoProto[] }): ModelProto {
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'qrun-tests',
    metadataProps: [],
    graph: {
      name: 'test',
      node: parts.nodes,
      initializer: parts.initializers ?? [],
      input: parts.inputs,
      output: parts.outputs,
      valueInfo: parts.valueInfo ?? [],
    },
  };
}

/** Runs model bytes once on the CPU (no graph optimisation, so what runs is what the file says). */
export async function runBytes(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await createSession(bytes, { optimization: 'disabled', intraOpThreads: 1 });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

export function run(m: ModelProto, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  return runBytes(encodeModel(m), feeds);
}

export function int64Tensor(values: number[], dims: number[]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), dims);
}

export function floatTensor(values: number[], dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', Float32Array.from(values), dims);
}
