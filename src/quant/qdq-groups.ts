// The quantized nodes of a QDQ model, and variants of it in which only some of them stay quantized:
// the building block of per-layer sensitivity and of falling back to float. A node "is quantized"
// when some of its inputs come out of a DequantizeLinear. Bypassing it rewires each such input to the
// float tensor before the Q/DQ pair (activations) or to the FP32 model's own weight (weights; the
// dequantized int8 weight where the FP32 model has no tensor to match). Q/DQ nodes nothing reads any
// more, and their initializers, are then dropped.
import { indexGraph, uniqueName, usedNames } from '../onnx/graph.ts';
import { decodeModel, encodeModel } from '../onnx/model-io.ts';
import { makeFloatTensor, tensorDims, tensorToFloat32 } from '../onnx/tensor.ts';
import { isShiftCorrection } from './shift.ts';
import { toNumber, type ModelProto, type NodeProto, type TensorProto } from '../onnx/types.ts';

export interface QuantizedInput {
  index: number;
  kind: 'activation' | 'weight';
  dequantize: NodeProto;
  /** The QuantizeLinear of an activation pair. */
  quantize?: NodeProto;
}

export interface QuantizedNode {
  /** Node name (or its first output where the node has no name). */
  name: string;
  opType: string;
  inputs: QuantizedInput[];
}

const nameOf = (n: NodeProto) => n.name || n.output[0]!;

export function findQuantizedNodes(model: ModelProto): QuantizedNode[] {
  const index = indexGraph(model.graph);
  const out: QuantizedNode[] = [];
  for (const n of model.graph.node) {
    // A shifted P·V's correction reads the MatMul's dequantized V: it follows its MatMul, not a layer of its own.
    if (n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear' || isShiftCorrection(n)) continue;
    const inputs: QuantizedInput[] = [];
    n.input.forEach((t, i) => {
      const dq = t ? index.producers.get(t) : undefined;
      if (dq?.opType !== 'DequantizeLinear') return;
      const q = index.producers.get(dq.input[0]!);
      if (q?.opType === 'QuantizeLinear') inputs.push({ index: i, kind: 'activation', dequantize: dq, quantize: q });
      else if (index.initializers.has(dq.input[0]!)) inputs.push({ index: i, kind: 'weight', dequantize: dq });
    });
    if (inputs.length) out.push({ name: nameOf(n), opType: n.opType, inputs });
  }
  return out;
}

/** The FP32 model's constant tensors (initializers and Constant nodes) by name, and its nodes by first output. */
interface FloatSource {
  constants: Map<string, TensorProto>;
  nodesByOutput: Map<string, NodeProto>;
}

export function floatSource(fp32: ModelProto | undefined): FloatSource {
  const constants = new Map<string, TensorProto>();
  const nodesByOutput = new Map<string, NodeProto>();
  if (!fp32) return { constants, nodesByOutput };
  for (const t of fp32.graph.initializer) constants.set(t.name ?? '', t);
  for (const n of fp32.graph.node) {
    nodesByOutput.set(n.output[0]!, n);
    const v = n.opType === 'Constant' ? n.attribute.find((a) => a.name === 'value')?.t : undefined;
    if (v) constants.set(n.output[0]!, v);
  }
  return { constants, nodesByOutput };
}

export function dequantizeWeight(dq: NodeProto, inits: Map<string, TensorProto>, name: string): TensorProto {
  const q = inits.get(dq.input[0]!)!;
  const dims = tensorDims(q);
  const values = tensorToFloat32(q);
  const scales = tensorToFloat32(inits.get(dq.input[1]!)!);
  const zp = dq.input[2] ? tensorToFloat32(inits.get(dq.input[2])!) : new Float32Array(scales.length);
  const axisAttr = dq.attribute.find((a) => a.name === 'axis');
  const axis = scales.length > 1 ? ((toNumber(axisAttr?.i) % dims.length) + dims.length) % dims.length : 0;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channels = scales.length > 1 ? dims[axis]! : 1;
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const c = channels > 1 ? Math.floor(i / inner) % channels : 0;
    out[i] = (values[i]! - zp[c]!) * scales[c]!;
  }
  return makeFloatTensor(name, dims, out);
}

/**
 * A copy of `qdq` in which only the nodes named in `keep` stay quantized. `fp32` supplies the float
 * weights of the bypassed nodes (matched by the node's output name, which placement never changes).
 */
export function keepOnlyQuantized(qdq: ModelProto, keep: Set<string>, fp32?: ModelProto, source = floatSource(fp32)): ModelProto {
  const m = decodeModel(encodeModel(qdq));
  const g = m.graph;
  const inits = new Map(g.initializer.map((t) => [t.name ?? '', t]));
  const used = usedNames(g);
  const added = new Map<string, string>(); // float source tensor → its name in this model
  const nodes = new Map(g.node.map((n) => [nameOf(n), n]));
  const bypassed = new Map<string, string>(); // a bypassed activation's DequantizeLinear output → its float tensor
  for (const qn of findQuantizedNodes(m)) {
    if (keep.has(qn.name)) continue;
    const node = nodes.get(qn.name)!;
    for (const inp of qn.inputs) {
      if (inp.kind === 'activation') {
        bypassed.set(node.input[inp.index]!, inp.quantize!.input[0]!);
        node.input[inp.index] = inp.quantize!.input[0]!;
        continue;
      }
      // The FP32 model's weight for this input, if the same node exists there with a constant input.
      const twin = source.nodesByOutput.get(node.output[0]!);
      const floatName = twin?.opType === node.opType ? twin.input[inp.index] : undefined;
      const floatTensor = floatName ? source.constants.get(floatName) : undefined;
      const key = floatTensor ? `fp32:${floatName}` : `dq:${inp.dequantize.output[0]}`;
      let name = added.get(key);
      if (!name) {
        name = uniqueName(used, floatTensor ? floatName! : `${inp.dequantize.output[0]}_float`);
        g.initializer.push(floatTensor ? { ...floatTensor, name } : dequantizeWeight(inp.dequantize, inits, name));
        added.set(key, name);
      }
      node.input[inp.index] = name;
    }
  }
  // A float P·V keeps its shift exact: its correction sums the same float V (src/quant/shift.ts).
  for (const n of g.node) if (isShiftCorrection(n) && bypassed.has(n.input[0]!)) n.input[0] = bypassed.get(n.input[0]!)!;
  removeDeadQdq(m);
  return m;
}

/** Drops Q/DQ nodes whose outputs nothing reads, then initializers nothing reads. */
function removeDeadQdq(m: ModelProto): void {
  const g = m.graph;
  const outputs = new Set(g.output.map((o) => o.name));
  for (let changed = true; changed; ) {
    const read = new Set(g.node.flatMap((n) => n.input));
    const before = g.node.length;
    g.node = g.node.filter((n) => !(n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear') || n.output.some((o) => read.has(o) || outputs.has(o)));
    changed = g.node.length !== before;
  }
  const read = new Set([...g.node.flatMap((n) => n.input), ...outputs]);
  const inputs = new Set(g.input.map((i) => i.name));
  g.initializer = g.initializer.filter((t) => read.has(t.name ?? '') || inputs.has(t.name ?? ''));
}
