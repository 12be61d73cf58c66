// Activation shift: asymmetric ranges in symmetric int8, with the zero point folded into float.
//
// TensorRT's explicit quantization takes signed int8 with zero point 0, so a tensor whose values are
// not centred on 0 wastes part of its 255 levels: a GELU output in [−0.17, M] uses only the positive
// half (7 bits), attention probabilities in [0, 1] get 1/127 where 1/255 would fit, and a LayerNorm
// output channel that sits at β = −6 ± 1 (BERT's outlier dimensions) stretches the whole tensor's
// range to 7 while the channel itself spans 2. Integer GEMM libraries handle this with a zero point
// and a compensation term; TensorRT has no zero point, so qrun writes the compensation itself:
//
//   X·W + b = (X − c)·W + (b + c·W)
//
// holds exactly for any c. With c the per-channel centre of X (the midpoint of each channel's
// calibrated [min, max], along the contraction axis), X − c is what is quantized: symmetric, every
// channel centred, its range the largest channel *spread* instead of the largest |value|. c·W is a
// constant vector, folded into the consumer's bias (the Add that follows the MatMul, a Gemm's C), so
// the deployed graph gains one Sub per tensor, which TensorRT fuses into the producing kernel
// (LayerNorm, GELU). This is the channel-wise shifting of Outlier Suppression+ (Wei et al., 2023),
// with the shift kept out of the residual stream (the Sub feeds only the quantized readers).
//
// Attention probabilities meet an activation, V, not a weight: P·V = (P − ½)·V + ½·1ᵀV. The
// correction is a ReduceSum of V over the keys; it reads the same dequantized V the MatMul reads, so
// V's rounding errors cancel exactly as in P·V (with float V they would be summed over every key,
// about √S times larger). P − ½ lies in [−½, ½]: scale 1/254 instead of 1/127, half the rounding step
// on the tensor that carries most of a transformer's int8 noise. Masked keys (P = 0) map to −127
// exactly and cancel with their share of the sum.
//
// Only int8 (zero point type INT8) activations are shifted: uint8 has its zero point. A tensor is
// shifted when every reader of its Q/DQ pairs is a MatMul/Gemm that takes it as the left operand
// against a constant 2-D weight, or, for a known exact range (Softmax [0, 1]), a MatMul against an
// activation. Convolutions are not shifted: zero padding of X − c is not X − c of zero padding.
import { attr, attrInt, indexGraph, uniqueName, usedNames, type GraphIndex } from '../onnx/graph.ts';
import { makeFloatTensor, makeInt64Tensor, tensorDims } from '../onnx/tensor.ts';
import { DataType, type ModelProto, type NodeProto, type TensorProto } from '../onnx/types.ts';
import type { ActivationSlot } from './activation-scales.ts';
import type { KnownRange } from './known-ranges.ts';

/** A reader of a shifted tensor (through one of its Q/DQ pairs). */
export interface ShiftConsumer {
  /** The MatMul or Gemm of the QDQ model. */
  node: NodeProto;
  /** weight: the other operand is a constant weight, c·W folds into the bias; activation: P·V, corrected by a ReduceSum of V. */
  kind: 'weight' | 'activation';
  /** Contraction size K (weight readers). */
  k?: number;
  /** Output size N (weight readers). */
  n?: number;
}

export interface ShiftPlan {
  /** Per-channel centres along the last axis, from calibration: the channel count K. */
  channels?: number;
  /** One centre for the whole tensor, from the op's known exact range (Softmax [0, 1] → 0.5). */
  constant?: number;
  consumers: ShiftConsumer[];
}

/** How a shifted tensor is recorded in calibration.json: "channels (384)" or the constant. */
export function describeShift(plan: ShiftPlan, centres: Float32Array | number): Record<string, unknown> {
  if (typeof centres === 'number') return { shift: centres };
  let maxAbs = 0;
  for (const c of centres) maxAbs = Math.max(maxAbs, Math.abs(c));
  return { shift: `per channel (${plan.channels})`, shiftMaxAbs: maxAbs };
}

const nameOf = (n: NodeProto) => n.name || n.output[0]!;

/** The constant 2-D weight behind a consumer's input: an initializer, or the DequantizeLinear of one. */
function weightDims(index: GraphIndex, tensor: string): number[] | undefined {
  const direct = index.initializers.get(tensor);
  if (direct) return tensorDims(direct);
  const dq = index.producers.get(tensor);
  if (dq?.opType !== 'DequantizeLinear') return undefined;
  const q = index.initializers.get(dq.input[0]!);
  return q ? tensorDims(q) : undefined;
}

/** Whether a tensor comes out of a DequantizeLinear of an activation (not a constant). */
function isDequantizedActivation(index: GraphIndex, tensor: string): boolean {
  const dq = index.producers.get(tensor);
  return dq?.opType === 'DequantizeLinear' && !index.initializers.has(dq.input[0]!);
}

/**
 * Which activation slots can be shifted, and how. Undefined for a slot that stays as it is: uint8,
 * a known range centred on 0 (Tanh), a reader that is not a MatMul/Gemm left operand, a Conv.
 */
export function planShifts(qdq: ModelProto, slots: ActivationSlot[], known: (KnownRange | undefined)[]): (ShiftPlan | undefined)[] {
  const index = indexGraph(qdq.graph);
  return slots.map((slot, k) => {
    if (slot.zeroPointType !== DataType.INT8) return undefined;
    const rule = known[k];
    let constant: number | undefined;
    if (rule?.kind === 'exact') {
      constant = (rule.min + rule.max) / 2;
      if (constant === 0) return undefined;
    }
    const consumers: ShiftConsumer[] = [];
    let channels: number | undefined;
    for (const q of index.consumers.get(slot.tensor) ?? []) {
      if (q.opType !== 'QuantizeLinear') continue;
      for (const dq of index.consumers.get(q.output[0]!) ?? []) {
        if (dq.opType !== 'DequantizeLinear') return undefined;
        for (const node of index.consumers.get(dq.output[0]!) ?? []) {
          const x = dq.output[0]!;
          if (node.input[0] !== x || node.input.indexOf(x, 1) >= 0) return undefined;
          if (node.opType === 'Gemm' && attrInt(node, 'transA', 0) !== 0) return undefined;
          if (node.opType !== 'MatMul' && node.opType !== 'Gemm') return undefined;
          const dims = weightDims(index, node.input[1]!);
          if (dims) {
            if (dims.length !== 2) return undefined;
            const transB = node.opType === 'Gemm' && attrInt(node, 'transB', 0) === 1;
            const [kk, nn] = transB ? [dims[1]!, dims[0]!] : [dims[0]!, dims[1]!];
            if (channels !== undefined && channels !== kk) return undefined;
            channels = kk;
            consumers.push({ node, kind: 'weight', k: kk, n: nn });
          } else if (constant !== undefined && node.opType === 'MatMul' && isDequantizedActivation(index, node.input[1]!)) {
            // P·V: the correction is inserted after the MatMul, and its readers rewired to it.
            if (index.graphOutputs.has(node.output[0]!)) return undefined;
            consumers.push({ node, kind: 'activation' });
          } else {
            return undefined;
          }
          // A reader with no bias to take c·W gets an Add after it: its output must not be a graph output.
          if (consumers.at(-1)!.kind === 'weight' && !biasOf(index, node) && !gemmWithoutC(node) && index.graphOutputs.has(node.output[0]!)) return undefined;
        }
      }
    }
    if (consumers.length === 0) return undefined;
    return constant !== undefined ? { constant, consumers } : channels ? { channels, consumers } : undefined;
  });
}

/** A Gemm with no C (and no β to honour): c·W becomes its C. */
function gemmWithoutC(node: NodeProto): boolean {
  return node.opType === 'Gemm' && !node.input[2] && !attr(node, 'beta');
}

/** Where c·W goes: a MatMul's bias Add (an initializer of N values), a Gemm's constant C. */
interface Bias {
  node: NodeProto;
  input: number;
  tensor: string;
}

function biasOf(index: GraphIndex, node: NodeProto): Bias | undefined {
  if (node.opType === 'Gemm') {
    const c = node.input[2];
    const t = c ? index.initializers.get(c) : undefined;
    if (!t || t.dataType !== DataType.FLOAT || attr(node, 'beta')?.f === 0) return undefined;
    return { node, input: 2, tensor: c! };
  }
  const readers = index.consumers.get(node.output[0]!) ?? [];
  if (readers.length !== 1 || readers[0]!.opType !== 'Add' || index.graphOutputs.has(node.output[0]!)) return undefined;
  const add = readers[0]!;
  const other = add.input[0] === node.output[0] ? 1 : 0;
  const b = index.initializers.get(add.input[other]!);
  if (!b || b.dataType !== DataType.FLOAT) return undefined;
  // [N] or [1, …, 1, N]: one value per output column, whatever the rows.
  const dims = tensorDims(b);
  if (dims.length === 0 || dims.slice(0, -1).some((d) => d !== 1)) return undefined;
  return { node: add, input: other, tensor: add.input[other]! };
}

/** The float weight of a consumer as K rows of N (a Gemm's B transposed when transB). */
export type WeightReader = (consumer: ShiftConsumer) => Promise<Float32Array>;
/** The values of an initializer of the QDQ model (read from its file when the graph was read without them). */
export type TensorReader = (tensor: TensorProto) => Promise<Float32Array>;

/** c·W: Σ_j c_j W[j, n] for each output column n. */
function offsetProduct(centres: Float32Array | number, w: Float32Array, k: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let j = 0; j < k; j++) {
    const c = typeof centres === 'number' ? centres : centres[j]!;
    if (c === 0) continue;
    for (let col = 0, i = j * n; col < n; col++, i++) out[col]! += c * w[i]!;
  }
  return out;
}

export interface ShiftResult {
  tensors: number;
  /** Biases (Add initializers, Gemm C) that took c·W. */
  biases: number;
  /** Add nodes inserted where a weight reader had no bias to take it. */
  adds: number;
  /** ReduceSum corrections of P·V. */
  corrections: number;
}

/** A ReduceSum that corrects a shifted P·V: named after its MatMul, so fallback can find and rewire it. */
export const CORRECTION_SUFFIX = '/shift_correction';

export function isShiftCorrection(node: NodeProto): boolean {
  return node.opType === 'ReduceSum' && (node.name ?? '').endsWith(CORRECTION_SUFFIX);
}

/**
 * Writes the shifts into the QDQ model in place: a Sub(X, c) read by the tensor's QuantizeLinear
 * nodes, and each reader's compensation. `centres[k]` is slot k's per-channel centres (or its
 * constant); slots without a plan are left alone. New initializers only: never edits a tensor that
 * something else (ALBERT's shared layers) may read.
 */
export async function applyShifts(
  qdq: ModelProto,
  slots: ActivationSlot[],
  plans: (ShiftPlan | undefined)[],
  centres: (Float32Array | number | undefined)[],
  readWeight: WeightReader,
  readTensor: TensorReader,
): Promise<ShiftResult> {
  const g = qdq.graph;
  const index = indexGraph(g);
  const used = usedNames(g);
  const before = new Map<NodeProto, NodeProto[]>();
  const after = new Map<NodeProto, NodeProto[]>();
  const result: ShiftResult = { tensors: 0, biases: 0, adds: 0, corrections: 0 };
  const push = (map: Map<NodeProto, NodeProto[]>, at: NodeProto, n: NodeProto) => (map.get(at) ?? map.set(at, []).get(at)!).push(n);
  const rewireReaders = (from: string, to: string, except: NodeProto) => {
    for (const r of index.consumers.get(from) ?? []) if (r !== except) r.input = r.input.map((t) => (t === from ? to : t));
  };
  for (let s = 0; s < slots.length; s++) {
    const plan = plans[s];
    const c = centres[s];
    if (!plan || c === undefined) continue;
    const x = slots[s]!.tensor;
    const quantizers = (index.consumers.get(x) ?? []).filter((n) => n.opType === 'QuantizeLinear');
    const cName = uniqueName(used, `${x}_shift`);
    g.initializer.push(makeFloatTensor(cName, typeof c === 'number' ? [] : [c.length], typeof c === 'number' ? Float32Array.of(c) : c));
    const shifted = uniqueName(used, `${x}_shifted`);
    push(before, quantizers[0]!, { name: uniqueName(used, `${x}/shift`), opType: 'Sub', input: [x, cName], output: [shifted], attribute: [] });
    for (const q of quantizers) q.input[0] = shifted;
    result.tensors++;
    for (const consumer of plan.consumers) {
      const node = consumer.node;
      const label = nameOf(node);
      if (consumer.kind === 'activation') {
        // Y = (P − c)·V + c·ΣV, ΣV over the keys (axis −2) of the dequantized V the MatMul reads.
        const sum = uniqueName(used, `${node.output[0]}_shift_sum`);
        const corr = uniqueName(used, `${node.output[0]}_shift_term`);
        const y = uniqueName(used, `${node.output[0]}_unshifted`);
        const axes = uniqueName(used, `${label}_shift_axes`);
        g.initializer.push(makeInt64Tensor(axes, [1], [-2]));
        const reduce: NodeProto = { name: uniqueName(used, `${label}${CORRECTION_SUFFIX}`), opType: 'ReduceSum', input: [node.input[1]!, axes], output: [sum], attribute: [{ name: 'keepdims', type: 2, i: 1 }] };
        const scale: NodeProto = { name: uniqueName(used, `${label}/shift_scale`), opType: 'Mul', input: [sum, cName], output: [corr], attribute: [] };
        const add: NodeProto = { name: uniqueName(used, `${label}/shift_add`), opType: 'Add', input: [node.output[0]!, corr], output: [y], attribute: [] };
        rewireReaders(node.output[0]!, y, add);
        for (const n of [reduce, scale, add]) push(after, node, n);
        result.corrections++;
        continue;
      }
      const w = await readWeight(consumer);
      const delta = offsetProduct(c, w, consumer.k!, consumer.n!);
      const bias = biasOf(index, node);
      // The bias takes c·W where it holds one value per output column ([N], [1, N], a Gemm's [M, N]).
      const biasTensor = bias ? index.initializers.get(bias.tensor)! : undefined;
      if (bias && biasTensor && tensorDims(biasTensor).at(-1) === consumer.n) {
        const b = await readTensor(biasTensor);
        // Gemm computes α·A·B + β·C: C takes α/β · c·B.
        const factor = node.opType === 'Gemm' ? (attr(node, 'alpha')?.f ?? 1) / (attr(node, 'beta')?.f ?? 1) : 1;
        const values = Float32Array.from(b, (v, i) => v + factor * delta[i % consumer.n!]!);
        const name = uniqueName(used, `${bias.tensor}_shifted`);
        g.initializer.push(makeFloatTensor(name, tensorDims(biasTensor), values));
        bias.node.input[bias.input] = name;
        result.biases++;
        continue;
      }
      if (gemmWithoutC(node)) {
        const name = uniqueName(used, `${label}_shift_bias`);
        g.initializer.push(makeFloatTensor(name, [consumer.n!], Float32Array.from(delta, (v) => (attr(node, 'alpha')?.f ?? 1) * v)));
        node.input[2] = name;
        result.biases++;
        continue;
      }
      // No bias to take it: Y + c·W after the node, its readers rewired.
      const name = uniqueName(used, `${label}_shift_bias`);
      g.initializer.push(makeFloatTensor(name, [consumer.n!], Float32Array.from(delta)));
      const y = uniqueName(used, `${node.output[0]}_unshifted`);
      const add: NodeProto = { name: uniqueName(used, `${label}/shift_add`), opType: 'Add', input: [node.output[0]!, name], output: [y], attribute: [] };
      rewireReaders(node.output[0]!, y, add);
      push(after, node, add);
      result.adds++;
    }
  }
  g.node = g.node.flatMap((n) => [...(before.get(n) ?? []), n, ...(after.get(n) ?? [])]);
  return result;
}

/** Per-channel (last axis) min and max over every batch: the centres of a per-channel shift. */
export class ChannelRange {
  readonly min: Float64Array;
  readonly max: Float64Array;

  constructor(readonly channels: number) {
    this.min = new Float64Array(channels).fill(Infinity);
    this.max = new Float64Array(channels).fill(-Infinity);
  }

  /** Adds a batch whose last axis is the channels; false (nothing added) when it is not. */
  add(values: Float32Array, dims: readonly number[]): boolean {
    const c = this.channels;
    if (dims[dims.length - 1] !== c) return false;
    const lo = this.min;
    const hi = this.max;
    for (let i = 0; i < values.length; i += c) {
      for (let j = 0; j < c; j++) {
        const v = values[i + j]!;
        // NaN compares false both ways: skipped.
        if (v < lo[j]!) lo[j] = v;
        if (v > hi[j]!) hi[j] = v;
      }
    }
    return true;
  }

  /** Each channel's midpoint, as float32 (what the graph's Sub subtracts); 0 for a channel never seen. */
  centres(): Float32Array {
    return Float32Array.from(this.min, (lo, j) => {
      const hi = this.max[j]!;
      return Number.isFinite(lo) && Number.isFinite(hi) ? (lo + hi) / 2 : 0;
    });
  }
}

/** X − c into `into` (float32, as the graph's Sub computes it), c per channel of the last axis or one value. */
export function subtractCentres(values: Float32Array, centres: Float32Array | number, into: Float32Array): Float32Array {
  const out = into.length >= values.length ? into.subarray(0, values.length) : new Float32Array(values.length);
  if (typeof centres === 'number') {
    for (let i = 0; i < values.length; i++) out[i] = values[i]! - centres;
    return out;
  }
  const c = centres.length;
  for (let i = 0; i < values.length; i += c) for (let j = 0; j < c; j++) out[i + j] = values[i + j]! - centres[j]!;
  return out;
}

/** The centred tensor's [min, max] from per-channel ranges (minmax needs no second pass). */
export function centredRange(range: ChannelRange, centres: Float32Array): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let j = 0; j < range.channels; j++) {
    if (!Number.isFinite(range.min[j]!) || !Number.isFinite(range.max[j]!)) continue;
    min = Math.min(min, Math.fround(range.min[j]! - centres[j]!));
    max = Math.max(max, Math.fround(range.max[j]! - centres[j]!));
  }
  return { min, max };
}

