// QDQ placement for TensorRT's explicit quantization, which also fuses well on onnxruntime's CPU EP.
// https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/work-quantized-types.html
// ("Q/DQ Layer-Placement Recommendations").
// - Weights (constant inputs of MatMul/Gemm/Conv): stored as int8 initializers, symmetric, per output
//   channel, behind a DequantizeLinear with `axis` (TensorRT: "weights quantized per channel,
//   activations per tensor"). Conv weights [M, C/group, kH, kW] use axis 0. Biases stay float.
// - Activations (every other float input, including both inputs of the attention MatMuls Q·Kᵀ and
//   P·V): a QuantizeLinear → DequantizeLinear pair per consumer. Sharing one pair between the Q, K
//   and V projections lets onnxruntime fuse only some of them into MatMulIntegerToFloat.
//   Scales start at 1 and are written by the calibrate step.
// - Residual Add (option): the shortcut input of `x + f(x)` gets a Q/DQ pair, so TensorRT can fuse
//   the Add into the epilogue of the quantized layer that computes f(x) ("quantize the residual
//   input in element-wise addition"). Nothing is ever placed inside Softmax or LayerNorm: only the
//   inputs of the nodes above are touched, never an Add that is not a residual.
// - mode weight-only: weights as above, activations left float (smaller file; onnxruntime runs a
//   float MatMul on the dequantized weight). mode dynamic: onnxruntime's `quantize_dynamic` form,
//   node for node (src/quant/dynamic-form.ts: activation scales computed per batch at run time; no
//   calibration). TensorRT has no dynamic quantization: that mode is for CPU onnxruntime.
import { attrInt, indexGraph, uniqueName, usedNames, type GraphIndex } from '../onnx/graph.ts';
import { makeFloatTensor, makeInt8Tensor, makeUint8Tensor, tensorDims, tensorSize, tensorToFloat32 } from '../onnx/tensor.ts';
import { DataType, type AttributeProto, type ModelProto, type NodeProto, type TensorProto } from '../onnx/types.ts';
import { concatsToQuantize } from './cnn-placement.ts';
import { quantizeDynamicForm } from './dynamic-form.ts';
import { quantizeWeightsPerChannel, quantizeWeightsPerTensor } from './scale-math.ts';

export type QdqMode = 'static' | 'weight-only' | 'dynamic';

export interface QdqPlacementOptions {
  ops: string[];
  excludeOps: string[];
  /** Regular expressions on node names. */
  excludeNodes: string[];
  activations: 'int8' | 'uint8';
  weights: 'per-channel' | 'per-tensor';
  /** Quantize MatMuls whose both inputs are activations (attention scores and context). */
  attentionMatMuls: boolean;
  /** Q/DQ on the shortcut input of residual Adds (default false). */
  residualAdd?: boolean;
  /** Q/DQ on the inputs of Concats that feed a quantized node, to share one scale (cnn-placement.ts; default false). */
  concat?: boolean;
  /** static (default): Q/DQ on weights and activations; weight-only; dynamic (see the header). */
  mode?: QdqMode;
}

export interface ActivationQuant {
  /** The float tensor that is quantized. */
  tensor: string;
  /** One scale / zero-point initializer per consumer (same values after calibration). */
  scales: string[];
  zeroPoints: string[];
  consumers: string[];
}

export interface QdqPlacement {
  quantizedNodes: string[];
  skippedNodes: { node: string; reason: string }[];
  weights: number;
  activations: ActivationQuant[];
  /** Residual Adds whose shortcut input was quantized (residualAdd: true). */
  residualAdds?: string[];
  /** Concats whose inputs were quantized (concat: true). */
  concats?: string[];
}

const FLOAT_TYPES = new Set<number>([DataType.FLOAT]);
/** Nodes whose output is a "weighted layer" result that a residual Add can fuse into. */
const COMPUTE_OPS = new Set(['MatMul', 'Gemm', 'Conv', 'ConvTranspose', 'BatchNormalization']);

function elemTypeOf(model: ModelProto, tensor: string, init: Map<string, TensorProto>): number | undefined {
  const t = init.get(tensor);
  if (t) return t.dataType;
  const vi = [...model.graph.valueInfo, ...model.graph.input, ...model.graph.output].find((v) => v.name === tensor);
  return vi?.type?.tensorType?.elemType || undefined;
}

/** Which input indices of a node take QDQ: data inputs of MatMul/Gemm/Conv, never biases. */
function quantizableInputs(node: NodeProto): number[] {
  switch (node.opType) {
    case 'MatMul':
    case 'Gemm':
    case 'Conv':
      return [0, 1];
    default:
      return [];
  }
}

/** Output-channel axis of a weight for per-channel scales. */
function weightAxis(node: NodeProto, inputIndex: number, dims: number[]): number | undefined {
  if (node.opType === 'MatMul' && inputIndex === 1) return dims.length - 1; // [.., K, N]: N
  if (node.opType === 'Gemm' && inputIndex === 1) return attrInt(node, 'transB', 0) ? 0 : 1;
  if (node.opType === 'Conv' && inputIndex === 1) return 0; // [M, C/group, kH, kW]
  return undefined;
}

/**
 * Exporters (the dynamo one especially) may hand weights over as Constant nodes instead of
 * initializers. Constants that feed the weight input of a node to quantize become initializers, so the
 * rest of the placement sees one kind of constant. Nothing changes when none does.
 */
function promoteConstantWeights(model: ModelProto, opts: QdqPlacementOptions): void {
  const g = model.graph;
  const wanted = new Set<string>();
  for (const n of g.node) if (opts.ops.includes(n.opType) && (n.domain ?? '') === '' && n.input[1]) wanted.add(n.input[1]);
  const promote = g.node.filter((n) => n.opType === 'Constant' && (n.domain ?? '') === '' && wanted.has(n.output[0]!) && n.attribute.some((a) => a.name === 'value' && a.t));
  if (promote.length === 0) return;
  const drop = new Set(promote);
  for (const c of promote) g.initializer.push({ ...c.attribute.find((a) => a.name === 'value')!.t!, name: c.output[0]! });
  g.node = g.node.filter((n) => !drop.has(n));
}

/**
 * A weight's float32 values: a view of its raw_data where that is 4-byte aligned (no copy of the
 * weight), else an aligned copy (protobufjs hands out views into the file's buffer at any offset).
 */
function floatWeights(t: TensorProto): Float32Array {
  const raw = t.rawData;
  const n = tensorSize(t);
  if (t.dataType === DataType.FLOAT && !t.externalData?.length && raw && raw.byteLength === n * 4 && raw.byteOffset % 4 === 0) return new Float32Array(raw.buffer, raw.byteOffset, n);
  return tensorToFloat32(t);
}

function isConstant(index: GraphIndex, tensor: string): boolean {
  return index.initializers.has(tensor);
}

/** Whether `tensor` is the result of a weighted layer, possibly through a bias Add. */
function isComputeOutput(index: GraphIndex, tensor: string): boolean {
  const p = index.producers.get(tensor);
  if (!p) return false;
  if (COMPUTE_OPS.has(p.opType)) return true;
  if (p.opType === 'Add' && p.input.length === 2) {
    const [a, b] = p.input as [string, string];
    if (isConstant(index, b)) return COMPUTE_OPS.has(index.producers.get(a)?.opType ?? '');
    if (isConstant(index, a)) return COMPUTE_OPS.has(index.producers.get(b)?.opType ?? '');
  }
  return false;
}

/** Distance (in nodes) from `tensor` back to each of its ancestor tensors, up to `limit` steps. */
function ancestorDistances(index: GraphIndex, tensor: string, limit = 400): Map<string, number> {
  const dist = new Map<string, number>([[tensor, 0]]);
  let frontier = [tensor];
  for (let d = 1; d <= limit && frontier.length; d++) {
    const next: string[] = [];
    for (const t of frontier) {
      const p = index.producers.get(t);
      if (!p) continue;
      for (const i of p.input) {
        if (!i || dist.has(i) || index.initializers.has(i)) continue;
        dist.set(i, d);
        next.push(i);
      }
    }
    frontier = next;
  }
  return dist;
}

/**
 * Residual Adds and the input index of their shortcut. A residual Add has two float activation
 * inputs and one of them comes out of a weighted layer (MatMul/Gemm/Conv, possibly through its bias
 * Add or a BatchNorm). Identity shortcut: the other input is an ancestor of it (x + f(x)); projection
 * shortcut (ResNet's downsampling): both come out of weighted layers, and the shortcut is the one
 * nearer to where the two branches split. An attention-mask Add (scores + mask) has neither shape
 * and is left alone, as are the Adds inside GELU or LayerNorm.
 */
export function findResidualAdds(model: ModelProto): Map<NodeProto, number> {
  const index = indexGraph(model.graph);
  const out = new Map<NodeProto, number>();
  for (const n of model.graph.node) {
    if (n.opType !== 'Add' || (n.domain ?? '') !== '' || n.input.length !== 2) continue;
    const [a, b] = n.input as [string, string];
    if (isConstant(index, a) || isConstant(index, b) || a === b) continue;
    const ca = isComputeOutput(index, a);
    const cb = isComputeOutput(index, b);
    if (!ca && !cb) continue;
    const da = ancestorDistances(index, a);
    const db = ancestorDistances(index, b);
    if (ca && db.size && da.has(b)) out.set(n, 1); // b is an ancestor of f(…) = a
    else if (cb && db.has(a)) out.set(n, 0);
    else if (ca && cb) {
      // Projection: find where the branches split; the shorter branch is the shortcut.
      let best = Infinity;
      let shortcut = 1;
      for (const [t, d1] of da) {
        const d2 = db.get(t);
        if (d2 === undefined || d1 + d2 >= best) continue;
        best = d1 + d2;
        shortcut = d2 <= d1 ? 1 : 0;
      }
      if (best < Infinity) out.set(n, shortcut);
    }
  }
  return out;
}

export function placeQdqForTensorRT(model: ModelProto, opts: QdqPlacementOptions): QdqPlacement {
  promoteConstantWeights(model, opts);
  // onnxruntime's quantize_dynamic form, node for node (src/quant/dynamic-form.ts); it quantizes the
  // embeddings' Gather as quantize_dynamic does (exclude.ops: [Gather] keeps them float).
  if (opts.mode === 'dynamic') return quantizeDynamicForm(model, { ops: [...opts.ops.filter((o) => o !== 'Conv'), 'Gather'], excludeOps: opts.excludeOps, excludeNodes: opts.excludeNodes, weights: opts.weights });
  const placer = new QdqPlacer(model, opts);
  for (const node of model.graph.node) placer.place(node);
  return placer.finish();
}

/** A weight quantized once: its int8 initializer, scale, zero point and the DequantizeLinear output that replaces it. */
interface QuantizedWeight {
  dq: string;
  q: string;
  scale: string;
  zeroPoint: string;
  axis?: number;
}

/**
 * The placement of one graph, node by node: each node is passed through, given Q/DQ on its inputs
 * (static, weight-only), rewritten to the dynamic form, or left float with the reason; `finish`
 * writes the new node list and initializers back into the graph.
 */
class QdqPlacer {
  private readonly mode: QdqMode;
  private readonly index: GraphIndex;
  private readonly used: Set<string>;
  private readonly excludeRes: RegExp[];
  private readonly placement: QdqPlacement = { quantizedNodes: [], skippedNodes: [], weights: 0, activations: [] };
  private readonly activationByTensor = new Map<string, ActivationQuant>();
  private readonly newInitializers: TensorProto[] = [];
  private readonly quantizedWeights = new Map<string, QuantizedWeight>();
  /** Float weights an int8 copy replaces: dropped at the end unless something still reads them. */
  private readonly replacedWeights = new Set<string>();
  /** The new node list, in order. */
  private readonly out: NodeProto[] = [];
  private readonly actType: number;
  private readonly residuals: Map<NodeProto, number>;
  private readonly concats: Set<NodeProto>;

  constructor(
    private readonly model: ModelProto,
    private readonly opts: QdqPlacementOptions,
  ) {
    this.mode = opts.mode ?? 'static';
    this.index = indexGraph(model.graph);
    this.used = usedNames(model.graph);
    this.excludeRes = opts.excludeNodes.map((r) => new RegExp(r));
    this.actType = opts.activations === 'int8' ? DataType.INT8 : DataType.UINT8;
    this.residuals = opts.residualAdd && this.mode === 'static' && !opts.excludeOps.includes('Add') ? findResidualAdds(model) : new Map<NodeProto, number>();
    this.concats = opts.concat && this.mode === 'static' && !opts.excludeOps.includes('Concat') ? concatsToQuantize(model, (c, i) => this.isEligible(c) && quantizableInputs(c).includes(i) && !this.excludeRes.some((r) => r.test(c.name || c.output[0]!)), this.index) : new Set<NodeProto>();
  }

  private isEligible(node: NodeProto): boolean {
    return this.opts.ops.includes(node.opType) && (node.domain ?? '') === '' && !this.opts.excludeOps.includes(node.opType);
  }

  /** One node of the graph, in order: a residual Add, a node to quantize, or one passed through (with why, where it is of a quantized type). */
  place(node: NodeProto): void {
    const name = node.name || node.output[0]!;
    const shortcut = this.residuals.get(node);
    if (shortcut !== undefined) return this.placeResidual(node, name, shortcut);
    if (this.concats.has(node)) return this.placeConcat(node, name);
    const eligible = this.opts.ops.includes(node.opType) && (node.domain ?? '') === '' && !this.opts.excludeOps.includes(node.opType);
    if (!eligible) {
      this.out.push(node);
      return;
    }
    const inputs = quantizableInputs(node);
    const constant = inputs.map((i) => this.index.initializers.has(node.input[i]!));
    const float = this.whyFloat(node, name, inputs, constant);
    if (float) return this.keepFloat(node, name, float);
    this.placeStatic(node, name, inputs, constant);
  }

  /** Why an eligible node stays float (excluded, not float32, activation × activation where that is not quantized), or undefined. */
  private whyFloat(node: NodeProto, name: string, inputs: number[], constant: boolean[]): string | undefined {
    if (this.excludeRes.some((r) => r.test(name))) return 'excluded by name';
    const types = inputs.map((i) => elemTypeOf(this.model, node.input[i]!, this.index.initializers));
    if (types.some((t) => t !== undefined && !FLOAT_TYPES.has(t))) return 'input is not float32';
    if (!constant.some(Boolean) && (this.mode !== 'static' || (!this.opts.attentionMatMuls && node.opType === 'MatMul'))) {
      return this.mode !== 'static' ? `activation × activation ${node.opType} (mode: ${this.mode} quantizes weights only)` : 'activation × activation MatMul (attentionMatMuls: false)';
    }
    return undefined;
  }

  private keepFloat(node: NodeProto, name: string, reason: string): void {
    this.placement.skippedNodes.push({ node: name, reason });
    this.out.push(node);
  }

  /** The shortcut input of a residual Add gets its own Q/DQ pair (TensorRT fuses the Add into the layer before). */
  private placeResidual(node: NodeProto, name: string, shortcut: number): void {
    if (this.excludeRes.some((r) => r.test(name))) return this.keepFloat(node, name, 'excluded by name');
    const pair = this.activationPair(node.input[shortcut]!, name, `input_${shortcut}`);
    node.input[shortcut] = pair.output;
    this.out.push(...pair.nodes, node);
    (this.placement.residualAdds ??= []).push(name);
  }

  /** Each input of a Concat gets its own Q/DQ pair; calibrate gives them one scale (cnn-placement.ts shareConcatScales). */
  private placeConcat(node: NodeProto, name: string): void {
    if (this.excludeRes.some((r) => r.test(name))) return this.keepFloat(node, name, 'excluded by name');
    const before: NodeProto[] = [];
    node.input.forEach((tensor, i) => {
      const pair = this.activationPair(tensor, name, `input_${i}`);
      before.push(...pair.nodes);
      node.input[i] = pair.output;
    });
    this.out.push(...before, node);
    (this.placement.concats ??= []).push(name);
  }

  /** mode static or weight-only: each constant input through its int8 weight's DequantizeLinear, each activation (static) through its own Q/DQ pair. */
  private placeStatic(node: NodeProto, name: string, inputs: number[], constant: boolean[]): void {
    const before: NodeProto[] = [];
    inputs.forEach((i, k) => {
      const tensor = node.input[i]!;
      if (constant[k]) {
        const w = this.quantizeWeight(node, i, tensor);
        if (!before.some((n) => n.output[0] === w.dq) && !this.out.some((n) => n.output[0] === w.dq)) {
          const attrs: AttributeProto[] = w.axis !== undefined ? [{ name: 'axis', type: 2, i: w.axis }] : [];
          before.push({ input: [w.q, w.scale, w.zeroPoint], output: [w.dq], name: uniqueName(this.used, `${tensor}/DequantizeLinear`), opType: 'DequantizeLinear', attribute: attrs });
        }
        node.input[i] = w.dq;
        return;
      }
      if (this.mode === 'weight-only') return;
      const pair = this.activationPair(tensor, name, `input_${i}`);
      before.push(...pair.nodes);
      node.input[i] = pair.output;
    });
    this.out.push(...before, node);
    this.placement.quantizedNodes.push(name);
  }

  /** The int8 weight (with its scale and zero point), created once per float weight. */
  private quantizeWeight(node: NodeProto, i: number, tensor: string): QuantizedWeight {
    let entry = this.quantizedWeights.get(tensor);
    if (entry) return entry;
    const used = this.used;
    const w = this.index.initializers.get(tensor)!;
    const dims = tensorDims(w);
    const axis = weightAxis(node, i, dims);
    const values = floatWeights(w);
    const q = uniqueName(used, `${tensor}_quantized`);
    const scale = uniqueName(used, `${tensor}_scale`);
    const zeroPoint = uniqueName(used, `${tensor}_zero_point`);
    const dq = uniqueName(used, `${tensor}_dequantized`);
    const perChannel = this.opts.weights === 'per-channel' && axis !== undefined && dims.length >= 2;
    if (perChannel) {
      const r = quantizeWeightsPerChannel(values, dims, axis);
      this.newInitializers.push(makeInt8Tensor(q, dims, r.q), makeFloatTensor(scale, [r.scales.length], r.scales), makeInt8Tensor(zeroPoint, [r.scales.length], new Int8Array(r.scales.length)));
    } else {
      const r = quantizeWeightsPerTensor(values);
      this.newInitializers.push(makeInt8Tensor(q, dims, r.q), makeFloatTensor(scale, [], Float32Array.of(r.scale)), makeInt8Tensor(zeroPoint, [], new Int8Array(1)));
    }
    entry = { dq, q, scale, zeroPoint, axis: perChannel ? axis : undefined };
    this.quantizedWeights.set(tensor, entry);
    this.replacedWeights.add(tensor);
    this.placement.weights++;
    return entry;
  }

  /** A Q → DQ pair on `tensor` for one consumer, with its own scale / zero-point initializers. */
  private activationPair(tensor: string, consumer: string, label: string): { nodes: NodeProto[]; output: string } {
    // Each consumer gets its own Q/DQ pair *and* its own scale/zero-point initializers: with
    // shared initializers onnxruntime's common-subexpression elimination merges the pairs back
    // into one shared pair, and then fuses only some of the MatMuls (measured: 16 of 24).
    const used = this.used;
    let act = this.activationByTensor.get(tensor);
    if (!act) {
      act = { tensor, scales: [], zeroPoints: [], consumers: [] };
      this.activationByTensor.set(tensor, act);
      this.placement.activations.push(act);
    }
    const scale = uniqueName(used, `${tensor}_scale_for_${consumer}`);
    const zeroPoint = uniqueName(used, `${tensor}_zero_point_for_${consumer}`);
    this.newInitializers.push(makeFloatTensor(scale, [], Float32Array.of(1)));
    this.newInitializers.push(this.actType === DataType.INT8 ? makeInt8Tensor(zeroPoint, [], new Int8Array(1)) : makeUint8Tensor(zeroPoint, [], new Uint8Array(1)));
    act.scales.push(scale);
    act.zeroPoints.push(zeroPoint);
    act.consumers.push(consumer);
    const qOut = uniqueName(used, `${tensor}_quantized_for_${consumer}`);
    const dqOut = uniqueName(used, `${tensor}_dequantized_for_${consumer}`);
    return {
      output: dqOut,
      nodes: [
        { input: [tensor, scale, zeroPoint], output: [qOut], name: uniqueName(used, `${consumer}/${label}/QuantizeLinear`), opType: 'QuantizeLinear', attribute: [] },
        { input: [qOut, scale, zeroPoint], output: [dqOut], name: uniqueName(used, `${consumer}/${label}/DequantizeLinear`), opType: 'DequantizeLinear', attribute: [] },
      ],
    };
  }

  /** The new nodes and initializers into the graph; what was placed. */
  finish(): QdqPlacement {
    const g = this.model.graph;
    // Drop float weights nothing else reads any more (the int8 copy replaces them), and their graph
    // inputs where the model lists initializers as inputs too (IR < 4 style): otherwise the weight
    // would become a required input without a default.
    const stillRead = new Set(this.out.flatMap((n) => n.input));
    for (const o of g.output) stillRead.add(o.name);
    const dropped = new Set([...this.replacedWeights].filter((t) => !stillRead.has(t)));
    g.initializer = [...g.initializer.filter((t) => !dropped.has(t.name ?? '')), ...this.newInitializers];
    if (dropped.size && g.input.some((i) => dropped.has(i.name))) g.input = g.input.filter((i) => !dropped.has(i.name));
    g.node = this.out;
    return this.placement;
  }
}
