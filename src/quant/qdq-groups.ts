// The quantized nodes of a QDQ model, and variants of it in which only some of them stay quantized:
// the building block of per-layer sensitivity and of falling back to float. A node "is quantized"
// when some of its inputs come out of a DequantizeLinear. Bypassing it rewires each such input to the
// float tensor before the Q/DQ pair (activations) or to the FP32 model's own weight (weights; the
// dequantized int8 weight where the FP32 model has no tensor to match). Q/DQ nodes nothing reads any
// more, and their initializers, are then dropped.
import { indexGraph, uniqueName, usedNames } from '../onnx/graph.ts';
import { decodeModel, encodeModel } from '../onnx/model-io.ts';
import { makeFloatTensor, tensorDims, tensorToFloat32 } from '../onnx/tensor.ts';
import { isShiftCorrection, isShiftScale, isShiftSub, offsetProduct, storedTransposed, weightRows } from './shift.ts';
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
  const producers = new Map(g.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
  for (const qn of findQuantizedNodes(m)) {
    if (keep.has(qn.name)) continue;
    const node = nodes.get(qn.name)!;
    for (const inp of qn.inputs) {
      if (inp.kind === 'activation') {
        // A tensor scaled per channel for its int8 form is read before the scaling: the float weight is unscaled.
        const before = producers.get(inp.quantize!.input[0]!);
        const float = isShiftScale(before) ? before!.input[0]! : inp.quantize!.input[0]!;
        bypassed.set(node.input[inp.index]!, float);
        node.input[inp.index] = float;
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
    // A reader of a shifted tensor computes (X − c)·W + b' in float now: b' becomes b + c·W exactly.
    const shift = producers.get(node.input[0] ?? '');
    if (isShiftSub(shift) && qn.inputs.some((i) => i.kind === 'weight')) unshiftBias(m, node, shift!, source, inits, used);
  }
  // A float P·V keeps its shift exact: its correction sums the same float V (src/quant/shift.ts).
  for (const n of g.node) if (isShiftCorrection(n) && bypassed.has(n.input[0]!)) n.input[0] = bypassed.get(n.input[0]!)!;
  removeDeadQdq(m);
  return m;
}

/**
 * The bias of a shifted reader that fell back to float: b + c·W with the FP32 model's b and W (c the
 * shift Sub's centres), in place of the int8 form's c·W_q + μ·(W − W_q) (src/quant/shift.ts).
 */
function unshiftBias(m: ModelProto, node: NodeProto, sub: NodeProto, source: FloatSource, inits: Map<string, TensorProto>, used: Set<string>): void {
  const g = m.graph;
  const c = tensorToFloat32(inits.get(sub.input[1]!)!);
  const twin = source.nodesByOutput.get(node.output[0]!);
  const wt = twin?.opType === node.opType ? source.constants.get(twin.input[1]!) : undefined;
  if (!wt) return;
  const dims = tensorDims(wt);
  const transB = storedTransposed(node);
  const [k, n] = transB ? [dims[1]!, dims[0]!] : [dims[0]!, dims[1]!];
  const cw = offsetProduct(c.length > 1 ? c : c[0]!, weightRows(tensorToFloat32(wt), dims, transB), k, n);
  // Where the bias is: a Gemm's C (unless β is 0), or the Add that reads the node's output (the one
  // the shift wrote). Gemm computes α·A·B + β·C: C takes α/β·c·W, an Add after it α·c·W (as src/quant/shift.ts wrote them).
  let holder: NodeProto | undefined;
  let slot = -1;
  const gemmAttr = (name: string) => (node.opType === 'Gemm' ? (node.attribute.find((a) => a.name === name)?.f ?? 1) : 1);
  let factor = gemmAttr('alpha');
  if (node.opType === 'Gemm' && node.input[2] && inits.has(node.input[2]) && gemmAttr('beta') !== 0) [holder, slot, factor] = [node, 2, factor / gemmAttr('beta')];
  else {
    const add = g.node.find((x) => x.opType === 'Add' && x.input.includes(node.output[0]!));
    const other = add ? (add.input[0] === node.output[0] ? 1 : 0) : -1;
    if (add && inits.has(add.input[other]!)) [holder, slot] = [add, other];
  }
  if (!holder) return;
  const current = inits.get(holder.input[slot]!)!;
  // The FP32 bias: the twin of the Add (same output name) or of the Gemm; none where the shift added the Add.
  const floatHolder = source.nodesByOutput.get(holder.output[0]!);
  const floatBias = floatHolder && floatHolder.opType === holder.opType ? floatHolder.input.map((i) => source.constants.get(i)).find((t) => t && t !== wt) : undefined;
  const b = floatBias ? tensorToFloat32(floatBias) : undefined;
  const out = Float32Array.from(tensorToFloat32(current), (_, i) => (b ? b[b.length === 1 ? 0 : i]! : 0) + factor * cw[i % n]!);
  const name = uniqueName(used, `${holder.input[slot]}_float`);
  g.initializer.push(makeFloatTensor(name, tensorDims(current), out));
  inits.set(name, g.initializer.at(-1)!);
  holder.input[slot] = name;
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
