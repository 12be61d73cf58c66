// How much each channel of a quantized activation matters to the nodes that read it: the weights
// that make a histogram of |x| a histogram of the consumer's output error (plugins/calibrate; the
// `auto` method and the bound every histogram method keeps, src/quant/auto-calibrator.ts).
//
// A MatMul Y = X·W whose input X is quantized with error ΔX gets ΔY = ΔX·W, and
//   E‖ΔY‖² = Σ_j E[ΔX_j²]·‖W_j‖² + Σ_{j≠k} E[ΔX_j·ΔX_k]·(W·Wᵀ)_jk,
// with W_j the weight row that channel j multiplies. Rounding errors of different channels are
// uncorrelated (the step is far below the values' spread), so the cross terms vanish for them;
// clipping errors of channels that clip together on one token do correlate, but their cross terms
// carry (W·Wᵀ)_jk, inner products of different rows, which have no common sign and are small against
// the diagonal in wide layers. So the consumer's output error is, to that approximation, the squared
// error of X with each value of channel j counted ‖W_j‖² times: a weighted histogram, streamed like
// the plain one, whose memory does not grow with the data. The outlier channels of a transformer's
// LayerNorm output matter to the next MatMul exactly as much as their weight rows say, which is what
// "whether cutting them hurts" must be judged on. Conv is the same with W_c = W[:, c, :, :] (every
// output position a value reaches); Gemm with W or Wᵀ by transB. A consumer whose other input is an
// activation (Q·Kᵀ, P·V) has no fixed rows: it counts every channel alike, at the mean weight.
// Weights are normalized to mean 1, so the weighted total stays comparable to the value count.
import { attrInt } from '../onnx/graph.ts';
import { tensorDims, tensorToFloat32 } from '../onnx/tensor.ts';
import { attr } from '../onnx/graph.ts';
import type { ModelProto, NodeProto, TensorProto } from '../onnx/types.ts';
import { readModelGraph, readTensorData } from '../runtime/model-file.ts';

/** Per-channel weights of one tensor and the axis its channels are on. */
export interface ConsumerWeights {
  weights: Float64Array;
  /** 'last': [..., C] (MatMul, Gemm inputs); 1: [N, C, ...] (Conv inputs). */
  axis: 'last' | 1;
  /** The consumer nodes weighed, by name. */
  consumers: string[];
}

interface Reader {
  node: NodeProto;
  /** The input index of the activation. */
  slot: number;
}

/** Σ W² per channel of the activation a weight meets, or undefined for a form not handled. */
function rowEnergy(op: string, node: NodeProto, slot: number, w: Float32Array, dims: number[]): { energy: Float64Array; axis: 'last' | 1 } | undefined {
  if (op === 'MatMul' && slot === 0 && dims.length >= 2) {
    const k = dims[dims.length - 2]!;
    const n = dims[dims.length - 1]!;
    const e = new Float64Array(k);
    for (let base = 0; base < w.length; base += k * n) {
      for (let r = 0; r < k; r++) {
        let s = 0;
        for (let c = 0, i = base + r * n; c < n; c++, i++) s += w[i]! * w[i]!;
        e[r]! += s;
      }
    }
    return { energy: e, axis: 'last' };
  }
  if (op === 'Gemm' && slot === 0 && dims.length === 2 && attrInt(node, 'transA', 0) === 0) {
    const transB = attrInt(node, 'transB', 0) === 1;
    const [rows, cols] = dims as [number, number];
    const k = transB ? cols : rows;
    const e = new Float64Array(k);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const v = w[r * cols + c]!;
        e[transB ? c : r]! += v * v;
      }
    }
    return { energy: e, axis: 'last' };
  }
  if (op === 'Conv' && slot === 0 && dims.length >= 3) {
    const [m, cg] = dims as [number, number];
    const group = attrInt(node, 'group', 1);
    const inner = dims.slice(2).reduce((a, b) => a * b, 1);
    const perGroup = m / group;
    const e = new Float64Array(cg * group);
    for (let o = 0; o < m; o++) {
      const g = Math.floor(o / perGroup);
      for (let c = 0; c < cg; c++) {
        let s = 0;
        for (let i = (o * cg + c) * inner, end = i + inner; i < end; i++) s += w[i]! * w[i]!;
        e[g * cg + c]! += s;
      }
    }
    return { energy: e, axis: 1 };
  }
  return undefined;
}

/**
 * The consumer weights of each tensor a QDQ model quantizes, from the float weights of the FP32
 * model (read one at a time from its file and dropped: never the whole model in memory). The
 * consumers are the nodes the QDQ model feeds with the tensor's Q/DQ pairs, found in the FP32 model
 * by their output. Undefined for a tensor with no weighted consumer (every channel alike then).
 */
export async function consumerWeights(qdq: ModelProto, floatPath: string, tensors: string[]): Promise<(ConsumerWeights | undefined)[]> {
  const fp32 = await readModelGraph(floatPath);
  const byOutput = new Map<string, NodeProto>();
  for (const n of fp32.graph.node) for (const o of n.output) if (o) byOutput.set(o, n);
  const inits = new Map(fp32.graph.initializer.map((t) => [t.name ?? '', t]));
  // Q → DQ → consumer in the QDQ model.
  const readers = new Map<string, NodeProto[]>();
  for (const n of qdq.graph.node) for (const i of n.input) if (i) (readers.get(i) ?? readers.set(i, []).get(i)!).push(n);
  const constantTensor = (name: string): TensorProto | undefined => {
    const init = inits.get(name);
    if (init) return init;
    const p = byOutput.get(name);
    return p?.opType === 'Constant' ? (attr(p, 'value')?.t ?? undefined) : undefined;
  };
  const out: (ConsumerWeights | undefined)[] = [];
  // Row energies by weight and consumer form; the weights' bytes are dropped once all are computed.
  const energies = new Map<TensorProto, Map<string, ReturnType<typeof rowEnergy>>>();
  for (const t of tensors) {
    const consumers: Reader[] = [];
    for (const q of readers.get(t) ?? []) {
      if (q.opType !== 'QuantizeLinear') continue;
      for (const dq of readers.get(q.output[0]!) ?? []) {
        if (dq.opType !== 'DequantizeLinear') continue;
        for (const c of readers.get(dq.output[0]!) ?? []) {
          const float = byOutput.get(c.output[0] ?? '');
          const slot = c.input.indexOf(dq.output[0]!);
          if (float && float.opType === c.opType && slot >= 0) consumers.push({ node: float, slot });
        }
      }
    }
    let energy: Float64Array | undefined;
    let axis: 'last' | 1 = 'last';
    let unweighted = 0;
    let weighted = 0;
    const names: string[] = [];
    for (const { node, slot } of consumers) {
      names.push(node.name ?? node.output[0]!);
      const wt = constantTensor(node.input[slot === 0 ? 1 : 0] ?? '');
      let e: ReturnType<typeof rowEnergy>;
      if (wt) {
        // A weight shared by several consumers (ALBERT's layers) is read once.
        const key = `${node.opType}|${attrInt(node, 'transB', 0)}|${attrInt(node, 'transA', 0)}|${attrInt(node, 'group', 1)}`;
        const cached = energies.get(wt)?.get(key);
        if (cached !== undefined || energies.get(wt)?.has(key)) e = cached;
        else {
          try {
            await readTensorData(fp32, (x) => x === wt);
            e = rowEnergy(node.opType, node, slot, tensorToFloat32(wt), tensorDims(wt));
          } catch {
            e = undefined; // float16 or an unreadable weight: this consumer counts channels alike
          } finally {
            // One weight in memory at a time: its row energies are all that is kept.
            delete (wt as { rawData?: Uint8Array }).rawData;
          }
          (energies.get(wt) ?? energies.set(wt, new Map()).get(wt)!).set(key, e);
        }
      }
      if (!e || (energy && (e.energy.length !== energy.length || e.axis !== axis))) {
        unweighted++;
        continue;
      }
      energy ??= new Float64Array(e.energy.length);
      axis = e.axis;
      for (let j = 0; j < energy.length; j++) energy[j]! += e.energy[j]!;
      weighted++;
    }
    if (!energy || weighted === 0) {
      out.push(undefined);
      continue;
    }
    let mean = energy.reduce((a, b) => a + b, 0) / energy.length;
    if (!(mean > 0) || !Number.isFinite(mean)) {
      out.push(undefined);
      continue;
    }
    // Consumers without fixed rows count every channel at the mean weight of one weighted consumer.
    if (unweighted > 0) {
      const share = (mean / weighted) * unweighted;
      for (let j = 0; j < energy.length; j++) energy[j]! += share;
      mean += share;
    }
    out.push({ weights: energy.map((v) => v / mean), axis, consumers: names });
  }
  return out;
}

/**
 * The weights to bin a batch with, given its dims: `inner` for the channel axis, or undefined when
 * the batch's channel count is not the weights' (a shape the weights do not describe: counted plainly).
 */
export function channelLayout(cw: ConsumerWeights, dims: readonly number[]): { weights: Float64Array; inner: number } | undefined {
  if (cw.axis === 'last') return dims[dims.length - 1] === cw.weights.length ? { weights: cw.weights, inner: 1 } : undefined;
  if (dims.length < 2 || dims[1] !== cw.weights.length) return undefined;
  return { weights: cw.weights, inner: dims.slice(2).reduce((a, b) => a * b, 1) };
}
