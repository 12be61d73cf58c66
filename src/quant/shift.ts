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
// A centred tensor whose channels still differ widely in spread (GELU outputs: a few channels reach
// 10, most stay under 1) can also be scaled per channel, as SmoothQuant and Outlier Suppression+ do:
//   (X − c)·W = ((X − c)·diag(1/s))·(diag(s)·W)
// so the Sub is followed by a Mul by 1/s and the reader's weight rows are multiplied by s (and
// requantized). s_j = a_j^α / w_j^(1−α) (a_j the centred channel's half range, w_j its weight rows'
// max |w|); α is chosen among 0.25, 0.5, 0.75 — or no scaling — by the expected squared error of the
// readers' outputs (activation rounding through the weights plus weight rounding through the
// activations' second moments, `chooseTransform`), so a tensor is only scaled where that error falls.
//
// Only int8 (zero point type INT8) activations are shifted: uint8 has its zero point. A tensor is
// shifted when every reader of its Q/DQ pairs is a MatMul/Gemm that takes it as the left operand
// against a constant 2-D weight, or, for a known exact range (Softmax [0, 1]), a MatMul against an
// activation. Convolutions are not shifted: zero padding of X − c is not X − c of zero padding.
import { attr, attrInt, indexGraph, uniqueName, usedNames, type GraphIndex } from '../onnx/graph.ts';
import { makeFloatTensor, makeInt64Tensor, makeInt8Tensor, tensorDims, tensorToFloat32 } from '../onnx/tensor.ts';
import { quantizeWeightsPerChannel, quantizeWeightsPerTensor } from './scale-math.ts';
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
  /** Per-channel scales s (the tensor is multiplied by 1/s, the readers' weight rows by s); set by chooseTransform. */
  scales?: Float32Array;
  /** The α the scales came from. */
  alpha?: number;
}

/** How a shifted tensor is recorded in calibration.json: "channels (384)" or the constant. */
export function describeShift(plan: ShiftPlan, centres: Float32Array | number): Record<string, unknown> {
  if (typeof centres === 'number') return { shift: centres };
  let maxAbs = 0;
  for (const c of centres) maxAbs = Math.max(maxAbs, Math.abs(c));
  return { shift: `per channel (${plan.channels})`, shiftMaxAbs: maxAbs, ...(plan.scales ? { scaledAlpha: plan.alpha } : {}) };
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
    // A float32 tensor only (its Q scale's type says so): the centres and corrections are float32.
    if (slot.params.some((p) => index.initializers.get(p.scale)?.dataType !== DataType.FLOAT)) return undefined;
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

/** A 2-D weight as K rows of N: as stored ([K, N]), or transposed from a Gemm's transB layout [N, K]. */
export function weightRows(w: Float32Array, dims: readonly number[], transposed: boolean): Float32Array {
  if (!transposed) return w;
  const [n, k] = dims as [number, number];
  const out = new Float32Array(k * n);
  for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) out[c * n + r] = w[r * k + c]!;
  return out;
}

/** c·W: Σ_j c_j W[j, n] for each output column n (W as K rows of N). */
export function offsetProduct(centres: Float32Array | number, w: Float32Array, k: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let j = 0; j < k; j++) {
    const c = typeof centres === 'number' ? centres : centres[j]!;
    if (c === 0) continue;
    for (let col = 0, i = j * n; col < n; col++, i++) out[col]! += c * w[i]!;
  }
  return out;
}

/** c·W_q + μ·(W − W_q) per output column: the bias that makes (X − c)·W_q exact at X's mean. */
function correctedOffset(c: Float32Array, mean: Float32Array, w: Float32Array, wq: Float32Array, k: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let j = 0; j < k; j++) {
    const cj = c[j]!;
    const mj = mean[j]!;
    for (let col = 0, i = j * n; col < n; col++, i++) out[col]! += cj * wq[i]! + mj * (w[i]! - wq[i]!);
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
  /** Tensors also scaled per channel (their readers' weights requantized). */
  scaled: number;
}

/** The Mul by 1/s after a scaled tensor's Sub: fallback reads the tensor before it (its float weight is unscaled). */
export const SCALE_SUFFIX = '/shift_scale';

export function isShiftScale(node: NodeProto | undefined): boolean {
  return node?.opType === 'Mul' && named(node, SCALE_SUFFIX);
}

/**
 * A scaled tensor's reader gets W' = diag(s)·W, quantized as its int8 weight was (per column, or per
 * tensor), in a DequantizeLinear of its own (the old one may be shared: ALBERT).
 */
async function requantizeScaled(qdq: ModelProto, index: GraphIndex, used: Set<string>, consumer: ShiftConsumer, w: Float32Array, inverse: Float32Array, readTensor: TensorReader): Promise<Float32Array> {
  const node = consumer.node;
  const dq = index.producers.get(node.input[1]!);
  if (dq?.opType !== 'DequantizeLinear') throw new Error(`shift: ${nameOf(node)}'s weight is not a DequantizeLinear of an int8 initializer`);
  const old = index.initializers.get(dq.input[0]!)!;
  const dims = tensorDims(old);
  const oldScale = index.initializers.get(dq.input[1]!)!;
  const perChannel = tensorDims(oldScale).length > 0 && (await readTensor(oldScale)).length > 1;
  const k = consumer.k!;
  const n = consumer.n!;
  // W' in the stored layout: [K, N], or [N, K] for a Gemm with transB (a square weight says nothing by its dims).
  const transposed = storedTransposed(node);
  const values = new Float32Array(k * n);
  for (let j = 0; j < k; j++) {
    const inv = inverse[j]!;
    for (let c = 0; c < n; c++) values[transposed ? c * k + j : j * n + c] = w[j * n + c]! / inv;
  }
  const label = dq.input[0]!;
  const qName = uniqueName(used, `${label}_shift_scaled`);
  const sName = uniqueName(used, `${label}_shift_scaled_scale`);
  const zName = uniqueName(used, `${label}_shift_scaled_zero_point`);
  const out = uniqueName(used, `${label}_shift_scaled_dequantized`);
  const axis = transposed ? 0 : 1;
  if (perChannel) {
    const r = quantizeWeightsPerChannel(values, dims, axis);
    qdq.graph.initializer.push(makeInt8Tensor(qName, dims, r.q), makeFloatTensor(sName, [r.scales.length], r.scales), makeInt8Tensor(zName, [r.scales.length], new Int8Array(r.scales.length)));
  } else {
    const r = quantizeWeightsPerTensor(values);
    qdq.graph.initializer.push(makeInt8Tensor(qName, dims, r.q), makeFloatTensor(sName, [], Float32Array.of(r.scale)), makeInt8Tensor(zName, [], new Int8Array(1)));
  }
  const attribute = perChannel ? [{ name: 'axis', type: 2, i: axis }] : [];
  const stored = qdq.graph.initializer.slice(-3);
  const effective = dequantizedRows(tensorToFloat32(stored[0]!), tensorToFloat32(stored[1]!), k, n, transposed);
  for (let j = 0; j < k; j++) for (let c = 0; c < n; c++) effective[j * n + c] = effective[j * n + c]! * inverse[j]!;
  const fresh: NodeProto = { name: uniqueName(used, `${label}/shift_scaled_dequantize`), opType: 'DequantizeLinear', input: [qName, sName, zName], output: [out], attribute };
  // Right before the reader, which comes after everything the new DequantizeLinear reads (initializers only).
  qdq.graph.node.splice(qdq.graph.node.indexOf(node), 0, fresh);
  node.input[1] = out;
  return effective;
}

/** int8 values times their scale (one per column of the stored layout's output axis, or one), as K rows of N. */
function dequantizedRows(q: Float32Array, scales: Float32Array, k: number, n: number, transposed: boolean): Float32Array {
  const out = new Float32Array(k * n);
  for (let j = 0; j < k; j++) {
    for (let c = 0; c < n; c++) {
      const v = q[transposed ? c * k + j : j * n + c]!;
      out[j * n + c] = v * (scales.length > 1 ? scales[c]! : scales[0]!);
    }
  }
  return out;
}

/** The weight a reader computes with, dequantized from its int8 initializer, as K rows of N. */
async function effectiveWeight(index: GraphIndex, consumer: ShiftConsumer, readTensor: TensorReader): Promise<Float32Array | undefined> {
  const dq = index.producers.get(consumer.node.input[1]!);
  if (dq?.opType !== 'DequantizeLinear') return undefined;
  const q = index.initializers.get(dq.input[0]!);
  const scale = index.initializers.get(dq.input[1]!);
  const zp = dq.input[2] ? index.initializers.get(dq.input[2]) : undefined;
  if (!q || !scale || (zp && (await readTensor(zp)).some((v) => v !== 0))) return undefined;
  const dims = tensorDims(q);
  if (dims.length !== 2) return undefined;
  return dequantizedRows(await readTensor(q), await readTensor(scale), consumer.k!, consumer.n!, storedTransposed(consumer.node));
}

/** Whether a reader stores its weight as [N, K] (a Gemm with transB). */
export function storedTransposed(node: NodeProto): boolean {
  return node.opType === 'Gemm' && attrInt(node, 'transB', 0) === 1;
}

/** A ReduceSum that corrects a shifted P·V: named after its MatMul, so fallback can find and rewire it. */
export const CORRECTION_SUFFIX = '/shift_correction';

/** Whether a node name ends with a suffix, allowing the `_N` uniqueName may have added. */
function named(node: NodeProto, suffix: string): boolean {
  const name = (node.name ?? '').replace(/_\d+$/, '');
  return name.endsWith(suffix);
}

export function isShiftCorrection(node: NodeProto): boolean {
  return node.opType === 'ReduceSum' && named(node, CORRECTION_SUFFIX);
}

/** The Sub(X, c) of a shifted tensor. */
export const SUB_SUFFIX = '/shift';

export function isShiftSub(node: NodeProto | undefined): boolean {
  return node?.opType === 'Sub' && named(node, SUB_SUFFIX);
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
  means: (Float32Array | undefined)[] = [],
): Promise<ShiftResult> {
  const g = qdq.graph;
  const index = indexGraph(g);
  const used = usedNames(g);
  const before = new Map<NodeProto, NodeProto[]>();
  const after = new Map<NodeProto, NodeProto[]>();
  const result: ShiftResult = { tensors: 0, biases: 0, adds: 0, corrections: 0, scaled: 0 };
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
    let shifted = uniqueName(used, `${x}_shifted`);
    push(before, quantizers[0]!, { name: uniqueName(used, `${x}${SUB_SUFFIX}`), opType: 'Sub', input: [x, cName], output: [shifted], attribute: [] });
    const inverse = plan.scales ? inverseScales(plan.scales) : undefined;
    if (inverse) {
      // (X − c) · (1/s): the readers' weight rows take s below.
      const sName = uniqueName(used, `${x}_shift_inverse_scale`);
      g.initializer.push(makeFloatTensor(sName, [inverse.length], inverse));
      const scaled = uniqueName(used, `${x}_shifted_scaled`);
      push(before, quantizers[0]!, { name: uniqueName(used, `${x}${SCALE_SUFFIX}`), opType: 'Mul', input: [shifted, sName], output: [scaled], attribute: [] });
      shifted = scaled;
      result.scaled++;
    }
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
        const scale: NodeProto = { name: uniqueName(used, `${label}/shift_term`), opType: 'Mul', input: [sum, cName], output: [corr], attribute: [] };
        const add: NodeProto = { name: uniqueName(used, `${label}/shift_add`), opType: 'Add', input: [node.output[0]!, corr], output: [y], attribute: [] };
        rewireReaders(node.output[0]!, y, add);
        for (const n of [reduce, scale, add]) push(after, node, n);
        result.corrections++;
        continue;
      }
      const w = await readWeight(consumer);
      // The reader computes (X − c)·W_q (W_q the int8 weight, unscaled): b + c·W_q gives X·W_q, and
      // μ·(W − W_q) adds back the weight rounding's mean effect on the output (analytic bias
      // correction, Nagel et al. 2019): its error is (X − μ)·ΔW, not (X − c)·ΔW, which would carry the
      // centre's whole offset into every token where X sits far from c (GELU's bulk near 0, c at half
      // its tail). Without channel means (a known range's centre), c·W keeps it at (X − c)·ΔW.
      const effective = inverse ? await requantizeScaled(qdq, index, used, consumer, w, inverse, readTensor) : await effectiveWeight(index, consumer, readTensor);
      const mean = means[s];
      const delta = mean && effective ? correctedOffset(c as Float32Array, mean, w, effective, consumer.k!, consumer.n!) : offsetProduct(c, w, consumer.k!, consumer.n!);
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
      // No bias to take it: Y + c·W after the node (α·c·W after a Gemm), its readers rewired.
      const name = uniqueName(used, `${label}_shift_bias`);
      const alpha = node.opType === 'Gemm' ? (attr(node, 'alpha')?.f ?? 1) : 1;
      g.initializer.push(makeFloatTensor(name, [consumer.n!], Float32Array.from(delta, (v) => alpha * v)));
      const y = uniqueName(used, `${node.output[0]}_unshifted`);
      const add: NodeProto = { name: uniqueName(used, `${label}/shift_add`), opType: 'Add', input: [node.output[0]!, name], output: [y], attribute: [] };
      rewireReaders(node.output[0]!, y, add);
      push(after, node, add);
      result.adds++;
    }
  }
  g.node = g.node.flatMap((n) => [...(before.get(n) ?? []), n, ...(after.get(n) ?? [])]);
  // The int8 weights the scaled readers no longer read, with their DequantizeLinear nodes.
  if (result.scaled) dropUnread(qdq);
  return result;
}

/** Removes DequantizeLinear nodes nothing reads, then initializers nothing reads. */
function dropUnread(qdq: ModelProto): void {
  const g = qdq.graph;
  const outputs = new Set(g.output.map((o) => o.name));
  const read = new Set(g.node.flatMap((n) => n.input));
  g.node = g.node.filter((n) => n.opType !== 'DequantizeLinear' || n.output.some((o) => read.has(o) || outputs.has(o)));
  const still = new Set([...g.node.flatMap((n) => n.input), ...outputs, ...g.input.map((i) => i.name)]);
  g.initializer = g.initializer.filter((t) => still.has(t.name ?? ''));
}

/** Per-channel (last axis) min and max over every batch: the centres of a per-channel shift. */
export class ChannelRange {
  readonly min: Float64Array;
  readonly max: Float64Array;
  /** Σx and Σx² per channel (NaN skipped) over `rows` rows: the second moments chooseTransform weighs weight errors with. */
  readonly sum: Float64Array;
  readonly sumSq: Float64Array;
  rows = 0;
  /** The same min/max over the even-numbered and the odd-numbered samples apart: does a centre from one half hold on the other (`holdsOut`)? */
  readonly halves: { min: Float64Array; max: Float64Array }[];
  private samples = 0;

  constructor(readonly channels: number) {
    this.min = new Float64Array(channels).fill(Infinity);
    this.max = new Float64Array(channels).fill(-Infinity);
    this.sum = new Float64Array(channels);
    this.sumSq = new Float64Array(channels);
    this.halves = [0, 1].map(() => ({ min: new Float64Array(channels).fill(Infinity), max: new Float64Array(channels).fill(-Infinity) }));
  }

  /** Adds a batch whose last axis is the channels; false (nothing added) when it is not. */
  add(values: Float32Array, dims: readonly number[]): boolean {
    const c = this.channels;
    if (dims[dims.length - 1] !== c) return false;
    const lo = this.min;
    const hi = this.max;
    const sum = this.sum;
    const sq = this.sumSq;
    const batch = Math.max(1, dims.length > 1 ? dims[0]! : 1);
    const perSample = values.length / batch;
    for (let b = 0; b < batch; b++) {
      // The half a sample goes to follows from its values, not its place in the data: the same
      // samples give the same halves however they are ordered and batched.
      const half = this.halves[sampleHalf(values[b * perSample]!)]!;
      for (let i = b * perSample, end = i + perSample; i < end; i += c) {
        for (let j = 0; j < c; j++) {
          const v = values[i + j]!;
          // NaN compares false both ways: skipped.
          if (v < half.min[j]!) half.min[j] = v;
          if (v > half.max[j]!) half.max[j] = v;
          if (v === v) (sum[j]! += v), (sq[j]! += v * v);
        }
      }
    }
    for (const h of this.halves) {
      for (let j = 0; j < c; j++) {
        if (h.min[j]! < lo[j]!) lo[j] = h.min[j]!;
        if (h.max[j]! > hi[j]!) hi[j] = h.max[j]!;
      }
    }
    this.samples += batch;
    this.rows += values.length / c;
    return true;
  }

  /**
   * Whether per-channel centres generalize beyond the samples they came from: centres and range taken
   * from one half of the samples, how far the other half's values fall outside them (the largest
   * overshoot, as a share of the range), against the same for the tensor's own symmetric range. A
   * centre fixes each channel's interval to its calibrated spread, where the plain range left most
   * channels room to spare; with few samples (a handful of images) the unseen extremes then clip.
   * Holds when the centred overshoot is within HOLDOUT_TOLERANCE of the plain one, both ways round.
   * With per-channel scales (`inverse` = 1/s) overshoots count in the scaled units: a channel the
   * scales widened has its unseen extremes widened as much.
   */
  holdsOut(inverse?: Float32Array): boolean {
    const [a, b] = this.halves as [{ min: Float64Array; max: Float64Array }, { min: Float64Array; max: Float64Array }];
    if (this.samples < 2) return false;
    return overshoot(a, b, true, inverse) <= overshoot(a, b, false) + HOLDOUT_TOLERANCE && overshoot(b, a, true, inverse) <= overshoot(b, a, false) + HOLDOUT_TOLERANCE;
  }

  /** Each channel's mean (0 for a channel never seen). */
  means(): Float32Array {
    return Float32Array.from(this.sum, (v) => (this.rows > 0 ? v / this.rows : 0));
  }

  /** Each channel's midpoint, as float32 (what the graph's Sub subtracts); 0 for a channel never seen. */
  centres(): Float32Array {
    return Float32Array.from(this.min, (lo, j) => {
      const hi = this.max[j]!;
      return Number.isFinite(lo) && Number.isFinite(hi) ? (lo + hi) / 2 : 0;
    });
  }
}

/** How far `test`'s values fall outside the range `fit` gives (centred per channel, or plain symmetric), as a share of that range. */
function overshoot(fit: { min: Float64Array; max: Float64Array }, test: { min: Float64Array; max: Float64Array }, centred: boolean, inverse?: Float32Array): number {
  const k = fit.min.length;
  const f = (j: number) => (inverse ? inverse[j]! : 1);
  let t = 0;
  for (let j = 0; j < k; j++) {
    if (!Number.isFinite(fit.min[j]!) || !Number.isFinite(fit.max[j]!)) continue;
    t = Math.max(t, centred ? ((fit.max[j]! - fit.min[j]!) / 2) * f(j) : Math.max(Math.abs(fit.min[j]!), Math.abs(fit.max[j]!)));
  }
  if (!(t > 0)) return 0;
  let worst = 0;
  for (let j = 0; j < k; j++) {
    if (!Number.isFinite(fit.min[j]!) || !Number.isFinite(test.min[j]!)) continue;
    const c = centred ? (fit.min[j]! + fit.max[j]!) / 2 : 0;
    const scale = centred ? f(j) : 1;
    worst = Math.max(worst, (test.max[j]! - c) * scale - t, (c - test.min[j]!) * scale - t);
  }
  return Math.max(0, worst) / t;
}

const bits = new Uint32Array(1);
const bitsView = new Float32Array(bits.buffer);

/** 0 or 1 from a float's bits (a multiplicative hash's top bit). */
function sampleHalf(v: number): number {
  bitsView[0] = v;
  return Math.imul(bits[0]!, 0x9e3779b1) >>> 31;
}

/** How much more a centred range may be overshot by held-out samples than the plain one (share of the range). */
const HOLDOUT_TOLERANCE = 0.5;

/**
 * X − c into `into` (float32, as the graph's Sub computes it), c per channel of the last axis or one
 * value; then times 1/s per channel where the plan scales (as the graph's Mul: `inverse` is float32 1/s).
 */
export function subtractCentres(values: Float32Array, centres: Float32Array | number, into: Float32Array, inverse?: Float32Array): Float32Array {
  const out = into.length >= values.length ? into.subarray(0, values.length) : new Float32Array(values.length);
  if (typeof centres === 'number') {
    for (let i = 0; i < values.length; i++) out[i] = values[i]! - centres;
    return out;
  }
  const c = centres.length;
  for (let i = 0; i < values.length; i += c) for (let j = 0; j < c; j++) out[i + j] = values[i + j]! - centres[j]!;
  if (inverse) for (let i = 0; i < values.length; i += c) for (let j = 0; j < c; j++) out[i + j] = out[i + j]! * inverse[j]!;
  return out;
}

/** float32 1/s: what the graph's Mul multiplies by (and W' = W / (1/s) keeps the product exact). */
export function inverseScales(scales: Float32Array): Float32Array {
  return Float32Array.from(scales, (v) => 1 / v);
}

/** A reader's float weight as K rows of N, and whether its int8 form has one scale per column. */
export interface ReaderWeight {
  w: Float32Array;
  n: number;
  perColumn: boolean;
}

export interface TransformChoice {
  /** Per-channel scales, or undefined: centring alone. */
  scales?: Float32Array;
  alpha?: number;
  /** Expected squared error of the readers' outputs with the choice, and with the tensor as it is (no centre, no scale). */
  error: number;
  plainError: number;
  /** The error with centring alone (no scales). */
  centredError: number;
}

const ALPHAS = [0.25, 0.5, 0.75];

/**
 * The transform of a per-channel tensor whose readers' outputs expect the least squared error: no
 * scaling, or SmoothQuant-style scales for one of ALPHAS, all centred — and, for comparison, the
 * tensor untouched. The error of one reader Y = X'·W' with X' = (X − c)/s, W' = diag(s)·W:
 *   activation rounding  (T/127)²/12 · Σ_j s_j²·‖W_j‖²,   T = max_j a_j/s_j (the minmax threshold),
 *   weight rounding      Σ_n (Δw_n)²/12 · Σ_j E[(X_j − c_j)²]/s_j²,   Δw_n = max_j |s_j·W_jn| / 127
 * (per column; one Δw for all columns with per-tensor weights), summed over the readers. Rounding
 * errors are taken as uniform and independent, as the consumer-weighted histograms take them.
 */
export function chooseTransform(range: ChannelRange, centres: Float32Array, readers: ReaderWeight[], allowScaling = true): TransformChoice {
  const k = range.channels;
  const n = Math.max(1, range.rows);
  const half = new Float64Array(k);
  const plainHalf = new Float64Array(k);
  const m2 = new Float64Array(k);
  const plainM2 = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    const lo = range.min[j]!;
    const hi = range.max[j]!;
    const seen = Number.isFinite(lo) && Number.isFinite(hi);
    half[j] = seen ? Math.max(Math.abs(lo - centres[j]!), Math.abs(hi - centres[j]!)) : 0;
    plainHalf[j] = seen ? Math.max(Math.abs(lo), Math.abs(hi)) : 0;
    const mean = range.sum[j]! / n;
    plainM2[j] = range.sumSq[j]! / n;
    // Centred, the readers' biases take the weight rounding's mean effect back (applyShifts): what is
    // left weighs the weight errors with each channel's variance.
    m2[j] = Math.max(0, plainM2[j]! - mean * mean);
  }
  // Per reader: Σ_n W_jn² per row j, and the rows' largest |w|.
  const rowEnergy = new Float64Array(k);
  const rowMax = new Float64Array(k);
  for (const r of readers) {
    for (let j = 0; j < k; j++) {
      let e = 0;
      let m = 0;
      for (let c = 0, i = j * r.n; c < r.n; c++, i++) {
        const v = r.w[i]!;
        e += v * v;
        m = Math.max(m, Math.abs(v));
      }
      rowEnergy[j]! += e;
      rowMax[j] = Math.max(rowMax[j]!, m);
    }
  }
  const errorOf = (a: Float64Array, second: Float64Array, s: Float64Array | undefined): number => {
    let t = 0;
    let act = 0;
    let xw = 0;
    for (let j = 0; j < k; j++) {
      const sj = s ? s[j]! : 1;
      t = Math.max(t, a[j]! / sj);
      act += sj * sj * rowEnergy[j]!;
      xw += second[j]! / (sj * sj);
    }
    let weight = 0;
    for (const r of readers) {
      const colMax = new Float64Array(r.perColumn ? r.n : 1);
      for (let j = 0; j < k; j++) {
        const sj = s ? s[j]! : 1;
        for (let c = 0, i = j * r.n; c < r.n; c++, i++) {
          const v = Math.abs(sj * r.w[i]!);
          const at = r.perColumn ? c : 0;
          if (v > colMax[at]!) colMax[at] = v;
        }
      }
      let steps = 0;
      for (const m of colMax) steps += (m / 127) ** 2;
      weight += (r.perColumn ? steps : steps * r.n) / 12;
    }
    return ((t / 127) ** 2 / 12) * act + weight * xw;
  };
  const plainError = errorOf(plainHalf, plainM2, undefined);
  const centredError = errorOf(half, m2, undefined);
  let best: TransformChoice = { error: centredError, plainError, centredError };
  const aMax = half.reduce((m, v) => Math.max(m, v), 0);
  const wMax = rowMax.reduce((m, v) => Math.max(m, v), 0);
  if (!(aMax > 0) || !(wMax > 0) || !allowScaling) return best;
  for (const alpha of ALPHAS) {
    // Channels that never moved, or meet all-zero weight rows, get the typical scale of the others' bounds.
    const s = new Float64Array(k);
    for (let j = 0; j < k; j++) s[j] = Math.max(half[j]!, 1e-3 * aMax) ** alpha / Math.max(rowMax[j]!, 1e-3 * wMax) ** (1 - alpha);
    const f32 = Float32Array.from(s);
    const exact = Float64Array.from(inverseScales(f32), (v) => 1 / v);
    const error = errorOf(half, m2, exact);
    if (error < best.error) best = { scales: f32, alpha, error, plainError, centredError };
  }
  return best;
}

/** The centred (and scaled) tensor's [min, max] from per-channel ranges (minmax needs no second pass). */
export function centredRange(range: ChannelRange, centres: Float32Array, inverse?: Float32Array): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let j = 0; j < range.channels; j++) {
    if (!Number.isFinite(range.min[j]!) || !Number.isFinite(range.max[j]!)) continue;
    const f = inverse ? inverse[j]! : 1;
    min = Math.min(min, Math.fround(Math.fround(range.min[j]! - centres[j]!) * f));
    max = Math.max(max, Math.fround(Math.fround(range.max[j]! - centres[j]!) * f));
  }
  return { min, max };
}

