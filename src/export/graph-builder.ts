// A small builder for ONNX graphs written by hand: nodes with unique names, float initializers,
// shared constants, inputs and outputs with symbolic dims. Everything is appended in call order, so
// the same calls always give the same ModelProto and, through encodeModel, the same bytes.
// IR version 8 / opset 17: what torch.onnx.export writes for these models, and what onnxruntime,
// TensorRT 8.6+ and the rest of qrun (patch rules, QDQ placement) are tested against.
// https://github.com/onnx/onnx/blob/main/docs/IR.md, https://onnx.ai/onnx/operators/
import { makeFloatTensor, makeInt64Tensor } from '../onnx/tensor.ts';
import { AttributeType, DataType, type AttributeProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../onnx/types.ts';

export const IR_VERSION = 8;
export const OPSET = 17;

export type Dim = number | string;

export const attrInt = (name: string, i: number): AttributeProto => ({ name, type: AttributeType.INT, i });
export const attrFloat = (name: string, f: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f });
export const attrInts = (name: string, ints: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints });

function valueInfo(name: string, elemType: number, dims: Dim[]): ValueInfoProto {
  const dim = dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

export interface OpOptions {
  /** Node name; made unique with a numeric suffix. Defaults to `/<opType>`. */
  name?: string;
  attrs?: AttributeProto[];
  /** Name of the (first) output tensor; defaults to `<node name>_output_0`. */
  output?: string;
}

export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, string>();
  private parameterCount = 0;

  constructor(readonly graphName: string) {}

  private unique(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  input(name: string, elemType: number, dims: Dim[]): string {
    const unique = this.unique(name);
    this.inputs.push(valueInfo(unique, elemType, dims));
    return unique;
  }

  /** Declares `tensor` (already produced by a node) as a graph output. */
  output(tensor: string, elemType: number, dims: Dim[]): void {
    this.outputs.push(valueInfo(tensor, elemType, dims));
  }

  /** A float initializer (a model weight); its values join the parameter count. */
  weight(name: string, dims: number[], values: Float32Array): string {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (values.length !== expected) throw new Error(`initializer ${name}: ${values.length} values for dims [${dims.join(', ')}]`);
    const unique = this.unique(name);
    this.initializers.push(makeFloatTensor(unique, dims, values));
    this.parameterCount += values.length;
    return unique;
  }

  /** A float scalar constant, shared by every node that uses the same value. */
  scalar(value: number): string {
    const key = `f:${Object.is(value, -0) ? '-0' : String(value)}`;
    const hit = this.constants.get(key);
    if (hit) return hit;
    const name = this.unique(`const_${this.constants.size}`);
    this.initializers.push(makeFloatTensor(name, [], Float32Array.of(value)));
    this.constants.set(key, name);
    return name;
  }

  /** An int64 constant (shapes, axes, indices): 1-D by default, or a scalar with `dims: []`. */
  ints(values: number[], dims: number[] = [values.length]): string {
    const key = `i:${dims.join('x')}:${values.join(',')}`;
    const hit = this.constants.get(key);
    if (hit) return hit;
    const name = this.unique(`const_${this.constants.size}`);
    this.initializers.push(makeInt64Tensor(name, dims, values));
    this.constants.set(key, name);
    return name;
  }

  /** Appends a node and returns the name of its first output. */
  op(opType: string, inputs: string[], options: OpOptions = {}): string {
    const name = this.unique(options.name ?? `/${opType}`);
    const output = options.output ? this.unique(options.output) : this.unique(`${name}_output_0`);
    this.nodes.push({ opType, input: inputs, output: [output], name, attribute: options.attrs ?? [] });
    return output;
  }

  /** Renames a node output (and its uses), e.g. to give the last hidden state its public name. */
  rename(tensor: string, name: string): string {
    const unique = this.unique(name);
    for (const node of this.nodes) {
      node.output = node.output.map((o) => (o === tensor ? unique : o));
      node.input = node.input.map((i) => (i === tensor ? unique : i));
    }
    return unique;
  }

  get parameters(): number {
    return this.parameterCount;
  }

  /**
   * `opset` / `irVersion`: the encoders' 17 / 8 by default; the decoders ask for opset 21 (IR 10),
   * where block-wise DequantizeLinear exists for weight-only INT4 (src/export/decoder/).
   */
  toModel(meta: { producerVersion: string; docString?: string; opset?: number; irVersion?: number }): ModelProto {
    return {
      irVersion: meta.irVersion ?? IR_VERSION,
      opsetImport: [{ domain: '', version: meta.opset ?? OPSET }],
      producerName: 'qrun',
      producerVersion: meta.producerVersion,
      docString: meta.docString,
      metadataProps: [],
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
        valueInfo: [],
      },
    };
  }
}

export { DataType };
