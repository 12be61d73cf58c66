// What `qrun inspect` shows of a model: its inputs and outputs, an op histogram, and every node a
// quantization step could touch, with its name (what `exclude.nodes` patterns match), its op type and,
// in a quantized model, whether it runs in int8 and from which ranges.
//
// A node is read as quantized when its inputs come through DequantizeLinear (the QDQ form TensorRT and
// onnxruntime fuse, https://onnx.ai/onnx/operators/onnx__DequantizeLinear.html) or when it is already
// an integer op (MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv, com.microsoft's
// MatMulIntegerToFloat / DynamicQuantizeMatMul / MatMulNBits). An activation's range is what its
// QuantizeLinear can represent: [(qmin − zero_point)·scale, (qmax − zero_point)·scale].
import { indexGraph, attrInt } from './graph.ts';
import { tensorDims, tensorToFloat32, tensorToInts } from './tensor.ts';
import { DATA_TYPE_NAMES, DataType, toNumber, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from './types.ts';

/** Ops whose inputs qdq.insert quantizes (src/quant/place-qdq.ts). */
export const QUANTIZABLE_OPS = new Set(['MatMul', 'Gemm', 'Conv']);
/** Ops that are already integer kernels. */
const INTEGER_OPS = new Set(['MatMulInteger', 'ConvInteger', 'QLinearMatMul', 'QLinearConv', 'MatMulIntegerToFloat', 'DynamicQuantizeMatMul', 'MatMulNBits']);

export interface TensorSignature {
  name: string;
  type: string;
  /** Each dimension: a number, or the symbolic name (`batch`, `sequence`) of a dynamic one. */
  shape: (number | string)[];
}

export interface ActivationRange {
  tensor: string;
  type: 'int8' | 'uint8' | string;
  scale: number;
  zeroPoint: number;
  min: number;
  max: number;
}

export interface QuantizableNode {
  name: string;
  opType: string;
  domain: string;
  /** int8: every float input of the node is dequantized (or it is an integer op); weights-only: only its constant input is; float: none. */
  precision: 'int8' | 'weights-only' | 'float';
  /** Ranges of the node's quantized activation inputs (empty for weights). */
  activations: ActivationRange[];
  /** Weight quantization: per-channel (with the axis' length) or per-tensor. */
  weights?: string;
}

export interface ModelInspection {
  producer: string;
  opset: number;
  inputs: TensorSignature[];
  outputs: TensorSignature[];
  nodes: number;
  initializers: number;
  /** Parameters held in float and in int8/uint8 initializers. */
  parameters: { float: number; int8: number };
  ops: { opType: string; domain: string; count: number }[];
  quantizable: QuantizableNode[];
}

function signature(v: ValueInfoProto): TensorSignature {
  const t = v.type?.tensorType;
  return {
    name: v.name,
    type: (DATA_TYPE_NAMES[t?.elemType ?? 0] ?? `type ${t?.elemType}`).toLowerCase(),
    shape: (t?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue !== undefined ? toNumber(d.dimValue) : '?')),
  };
}

function scalar(t: TensorProto | undefined): number | undefined {
  if (!t) return undefined;
  if (t.dataType === DataType.FLOAT) return tensorToFloat32(t)[0];
  return tensorToInts(t)[0];
}

export function inspectModel(model: ModelProto): ModelInspection {
  const g = model.graph;
  const index = indexGraph(g);
  const initializerNames = new Set(index.initializers.keys());

  const ops = new Map<string, { opType: string; domain: string; count: number }>();
  for (const n of g.node) {
    const key = `${n.domain ?? ''}:${n.opType}`;
    const e = ops.get(key) ?? { opType: n.opType, domain: n.domain ?? '', count: 0 };
    e.count++;
    ops.set(key, e);
  }

  const parameters = { float: 0, int8: 0 };
  for (const t of g.initializer) {
    const n = tensorDims(t).reduce((a, b) => a * b, 1);
    if (t.dataType === DataType.INT8 || t.dataType === DataType.UINT8) parameters.int8 += n;
    else if (t.dataType === DataType.FLOAT || t.dataType === DataType.FLOAT16 || t.dataType === DataType.BFLOAT16) parameters.float += n;
  }

  /** The QuantizeLinear → DequantizeLinear pair feeding `tensor`, read back to a range. */
  const activationRange = (dq: NodeProto): ActivationRange | undefined => {
    const q = index.producers.get(dq.input[0]!);
    if (!q || q.opType !== 'QuantizeLinear') return undefined;
    const scale = scalar(index.initializers.get(q.input[1]!));
    if (scale === undefined) return undefined;
    const zpTensor = q.input[2] ? index.initializers.get(q.input[2]) : undefined;
    const zeroPoint = scalar(zpTensor) ?? 0;
    const uint8 = zpTensor?.dataType === DataType.UINT8;
    const [qmin, qmax] = uint8 ? [0, 255] : [-128, 127];
    return { tensor: q.input[0]!, type: uint8 ? 'uint8' : 'int8', scale, zeroPoint, min: (qmin - zeroPoint) * scale, max: (qmax - zeroPoint) * scale };
  };

  const quantizable: QuantizableNode[] = [];
  for (const n of g.node) {
    const integer = INTEGER_OPS.has(n.opType);
    if (!QUANTIZABLE_OPS.has(n.opType) && !integer) continue;
    const entry: QuantizableNode = { name: n.name || n.output[0] || '', opType: n.opType, domain: n.domain ?? '', precision: integer ? 'int8' : 'float', activations: [] };
    if (n.opType === 'MatMulNBits') {
      // Weight-only (weights.quantize): float activations times N-bit weights in blocks along K.
      entry.precision = 'weights-only';
      entry.weights = `int${attrInt(n, 'bits', 4)}, blocks of ${attrInt(n, 'block_size', 0)}`;
    }
    if (!integer) {
      // Gemm/MatMul/Conv: inputs 0 and 1 carry the data (Gemm's and Conv's third is the bias).
      const dataInputs = n.input.slice(0, 2).filter(Boolean);
      let dequantized = 0;
      let weightDequantized = false;
      for (const input of dataInputs) {
        const producer = index.producers.get(input);
        if (producer?.opType !== 'DequantizeLinear') continue;
        dequantized++;
        if (initializerNames.has(producer.input[0]!)) {
          weightDequantized = true;
          const scale = index.initializers.get(producer.input[1]!);
          const channels = scale ? tensorDims(scale).reduce((a, b) => a * b, 1) : 1;
          const block = attrInt(producer, 'block_size', 0);
          entry.weights = block > 0 ? `blocks of ${block} (${channels} scales)` : channels > 1 ? `per-channel (${channels})` : 'per-tensor';
        } else {
          const range = activationRange(producer);
          if (range) entry.activations.push(range);
        }
      }
      entry.precision = dequantized === dataInputs.length && dequantized > 0 ? 'int8' : weightDequantized ? 'weights-only' : 'float';
    }
    quantizable.push(entry);
  }

  return {
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' ') || 'unknown',
    opset: toNumber(model.opsetImport.find((o) => !o.domain)?.version),
    inputs: g.input.filter((v) => !initializerNames.has(v.name)).map(signature),
    outputs: g.output.map(signature),
    nodes: g.node.length,
    initializers: g.initializer.length,
    parameters,
    ops: [...ops.values()].sort((a, b) => b.count - a.count || (a.opType < b.opType ? -1 : 1)),
    quantizable,
  };
}
