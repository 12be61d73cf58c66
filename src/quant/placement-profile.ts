// Placement profiles: which int8 form qdq.insert writes for the runtime that will run the model.
// - `target: tensorrt` (default): TensorRT's explicit quantization (place-qdq.ts): Q/DQ pairs on
//   every MatMul/Gemm input (attention MatMuls too), int8 symmetric, per-channel weights, biases
//   float. TensorRT fuses Q/DQ into its int8 kernels and needs nothing else.
// - `target: cpu`: the graph onnxruntime's CPU kernels run fastest, written directly instead of
//   hoping its optimizer finds it. What onnxruntime makes of the TensorRT form (read from its
//   optimized graph, optimizedModelFilePath) is QuantizeLinear + MatMulIntegerToFloat per weight
//   MatMul, with three things left that cost time on CPU (bench/cpu-forms.ts measures each):
//   · the bias Add stays a separate float pass after every MatMul (the QDQ selectors fuse no bias);
//   · int8 activations go through QDQS8ToU8 conversion, and one QuantizeLinear per consumer
//     (Q, K and V quantize the same hidden state three times);
//   · the attention MatMuls in int8 add QuantizeLinear passes without making the float matmul
//     they replace (64-wide heads) faster.
//   So the cpu form is: one static uint8 QuantizeLinear per activation tensor (scale and zero point
//   set by calibrate, as for the Q/DQ form), shared by its readers, feeding
//   com.microsoft.MatMulIntegerToFloat(A_q, W_q, A_scale, W_scale, A_zp, W_zp, bias) with int8
//   symmetric per-column weights and the bias folded in; attention MatMuls and everything else
//   float, as in onnxruntime's quantize_dynamic (which computes A's scale at run time instead).
//   Each self-attention block the matcher recognises (attentionBlocks: onnx.export's BERT-style
//   graphs) becomes one com.microsoft.QAttention: the int8 Q/K/V GEMM, per-head scores, mask,
//   Softmax and context in one kernel, without the Reshape/Transpose copies. Elsewhere the Q, K and
//   V projections that read one tensor become one MatMul of the concatenated weights and a Split
//   (`fuseQkv`): one int8 GEMM of width 3·hidden instead of three.
//   Measured on the GPU machine's Xeon (AVX-512 VNNI, AMX; 2 cores; device job s1-speed), against
//   Python onnxruntime's quantize_dynamic of the same graph: 0.75 / 0.76 / 0.75 at 1×32 / 1×128 /
//   8×128 with QAttention, 0.80 / 0.80 / 0.78 with attention float (docs/performance.md). On an
//   AMD CPU without AMX QAttention gained nothing; the form does not depend on the CPU (cache keys).
//   TensorRT cannot run com.microsoft ops: the profile is for onnxruntime on CPU only.
import { indexGraph, uniqueName, usedNames } from '../onnx/graph.ts';
import { makeFloatTensor, makeInt64Tensor, makeInt8Tensor, makeUint8Tensor, tensorDims, tensorSize, tensorToFloat32, tensorToInts } from '../onnx/tensor.ts';
import { DataType, toNumber, type ModelProto, type NodeProto, type TensorProto } from '../onnx/types.ts';
import { floatValues, gemmsToMatMul } from './dynamic-form.ts';
import type { ActivationQuant, QdqPlacement } from './place-qdq.ts';
import { quantizeWeightsPerChannel, quantizeWeightsPerTensor } from './scale-math.ts';

export type PlacementTarget = 'tensorrt' | 'cpu';

export interface CpuPlacementOptions {
  /** Regular expressions on node names: those MatMuls stay float. */
  excludeNodes: string[];
  excludeOps: string[];
  weights: 'per-channel' | 'per-tensor';
  /** Q, K and V projections reading one tensor as one MatMul + Split (default true). */
  fuseQkv?: boolean;
  /**
   * Each self-attention block (Q/K/V projections, per-head Q·Kᵀ/√d + mask, Softmax, ·V) as one
   * com.microsoft.QAttention node (default true; blocks the matcher does not recognise keep the
   * unfused form): see attentionBlocks.
   */
  fuseAttention?: boolean;
}

const MS = 'com.microsoft';

interface WeightMatMul {
  node: NodeProto;
  /** The bias Add folded into it, if any. */
  add?: NodeProto;
  bias?: string;
}

/** The weight MatMuls (constant float 2-D B) and the bias Add each one feeds alone. */
function weightMatMuls(model: ModelProto, include: (n: NodeProto) => boolean): Map<NodeProto, WeightMatMul> {
  const index = indexGraph(model.graph);
  const out = new Map<NodeProto, WeightMatMul>();
  for (const n of model.graph.node) {
    if (n.opType !== 'MatMul' || (n.domain ?? '') !== '' || !include(n)) continue;
    const w = index.initializers.get(n.input[1]!);
    if (!w || w.dataType !== DataType.FLOAT || tensorDims(w).length !== 2) continue;
    const entry: WeightMatMul = { node: n };
    const readers = index.consumers.get(n.output[0]!) ?? [];
    const cols = tensorDims(w)[1]!;
    if (readers.length === 1 && !index.graphOutputs.has(n.output[0]!) && readers[0]!.opType === 'Add' && (readers[0]!.domain ?? '') === '') {
      const add = readers[0]!;
      const other = add.input[0] === n.output[0] ? add.input[1]! : add.input[0]!;
      const b = index.initializers.get(other);
      if (b && b.dataType === DataType.FLOAT && tensorDims(b).length === 1 && toNumber(tensorDims(b)[0]) === cols) {
        entry.add = add;
        entry.bias = other;
      }
    }
    out.set(n, entry);
  }
  return out;
}

/** One self-attention block that QAttention replaces. */
interface AttentionBlock {
  /** Q, K, V weight MatMuls (with their bias Adds), in that order. */
  qkv: [WeightMatMul, WeightMatMul, WeightMatMul];
  heads: number;
  /** 1/√d unless the graph scales otherwise. */
  scale: number;
  /** The graph input the additive mask is computed from ([batch, seq], 1 = token). */
  maskInput: string;
  /** The block's output: the context after Transpose and Reshape back to [batch, seq, hidden]. */
  output: string;
  /** Every node the QAttention node replaces. */
  nodes: NodeProto[];
}

const permOf = (n: NodeProto | undefined) => n?.attribute.find((a) => a.name === 'perm')?.ints?.map((v) => toNumber(v)).join(',');

/**
 * The self-attention blocks of a BERT-style graph (as onnx.export and transformers' exporters write
 * them): X → Q/K/V MatMul+bias → Reshape [0, 0, heads, d] → Transpose (Q, V: 0,2,1,3; K: 0,2,3,1);
 * MatMul(Q, Kᵀ) → Div(√d) → Add(mask) → Softmax(last axis) → MatMul(·, V) → Transpose(0,2,1,3) →
 * Reshape [0, 0, hidden]; the mask computed from one [batch, seq] integer graph input. A block any
 * of whose intermediate tensors has another reader is left alone.
 */
function attentionBlocks(model: ModelProto, groups: Iterable<WeightMatMul[]>): AttentionBlock[] {
  const g = model.graph;
  const index = indexGraph(g);
  const only = (tensor: string): NodeProto | undefined => {
    const readers = index.consumers.get(tensor) ?? [];
    return readers.length === 1 && !index.graphOutputs.has(tensor) ? readers[0] : undefined;
  };
  const ints = (tensor: string) => {
    const t = index.initializers.get(tensor);
    return t && t.dataType === DataType.INT64 ? tensorToInts(t) : undefined;
  };
  const scalar = (tensor: string) => {
    const t = index.initializers.get(tensor);
    return t && t.dataType === DataType.FLOAT && tensorSize(t) === 1 ? tensorToFloat32(t)[0] : undefined;
  };
  const maskSource = (tensor: string): string | undefined => {
    const seen = new Set<string>();
    const found = new Set<string>();
    const queue = [tensor];
    while (queue.length) {
      const t = queue.pop()!;
      if (seen.has(t)) continue;
      seen.add(t);
      if (index.graphInputs.has(t) && !index.initializers.has(t)) found.add(t);
      const p = index.producers.get(t);
      if (p) queue.push(...p.input.filter(Boolean));
    }
    if (found.size !== 1) return undefined;
    const name = [...found][0]!;
    const vi = g.input.find((i) => i.name === name);
    const elem = vi?.type?.tensorType?.elemType;
    return (elem === DataType.INT64 || elem === DataType.INT32) && vi?.type?.tensorType?.shape?.dim?.length === 2 ? name : undefined;
  };
  const blocks: AttentionBlock[] = [];
  for (const members of groups) {
    if (members.length !== 3 || members.some((m) => !m.add)) continue;
    // Each projection: bias Add → Reshape → Transpose, all single-reader.
    const heads = members.map((m) => {
      const r = only(m.add!.output[0]!);
      const t = r?.opType === 'Reshape' ? only(r.output[0]!) : undefined;
      return r && t?.opType === 'Transpose' ? { m, r, t, perm: permOf(t), shape: ints(r.input[1]!) } : undefined;
    });
    if (heads.some((h) => !h || !h.shape || h.shape.length !== 4)) continue;
    const q = heads.find((h) => h!.perm === '0,2,1,3' && only(h!.t.output[0]!)?.input[0] === h!.t.output[0]);
    const k = heads.find((h) => h!.perm === '0,2,3,1');
    if (!q || !k) continue;
    const scores = only(q.t.output[0]!);
    if (scores?.opType !== 'MatMul' || scores.input[1] !== k.t.output[0] || only(k.t.output[0]!) !== scores) continue;
    const v = heads.find((h) => h !== q && h !== k && h!.perm === '0,2,1,3');
    if (!v) continue;
    const div = only(scores.output[0]!);
    const d = q.shape![3]!;
    const divisor = div?.opType === 'Div' ? scalar(div.input[1]!) : undefined;
    if (!div || divisor === undefined || div.input[0] !== scores.output[0]) continue;
    const add = only(div.output[0]!);
    if (add?.opType !== 'Add') continue;
    const maskTensor = add.input[0] === div.output[0] ? add.input[1]! : add.input[0]!;
    const maskInput = maskSource(maskTensor);
    const softmax = only(add.output[0]!);
    const axis = softmax ? (softmax.attribute.find((a) => a.name === 'axis')?.i ?? -1) : undefined;
    if (!maskInput || softmax?.opType !== 'Softmax' || ![-1, 3].includes(toNumber(axis))) continue;
    const context = only(softmax.output[0]!);
    if (context?.opType !== 'MatMul' || context.input[1] !== v.t.output[0] || only(v.t.output[0]!) !== context) continue;
    const merge = only(context.output[0]!);
    const flat = merge && permOf(merge) === '0,2,1,3' ? only(merge.output[0]!) : undefined;
    if (merge?.opType !== 'Transpose' || flat?.opType !== 'Reshape') continue;
    const hidden = tensorDims(index.initializers.get(q.m.node.input[1]!)!)[1]!;
    if (q.shape![2]! * d !== hidden) continue;
    blocks.push({
      qkv: [q.m, k.m, v.m],
      heads: q.shape![2]!,
      scale: 1 / divisor,
      maskInput,
      output: flat.output[0]!,
      nodes: [...[q, k, v].flatMap((h) => [h!.m.node, h!.m.add!, h!.r, h!.t]), scores, div, add, softmax, context, merge, flat],
    });
  }
  return blocks;
}

/**
 * Rewrites `model` into the cpu profile's form (header). Activation scales are placeholders (1, zero
 * point 0) on the QuantizeLinear nodes, which calibrate writes as for the TensorRT form.
 */
export function placeForCpu(model: ModelProto, opts: CpuPlacementOptions): QdqPlacement {
  const placement: QdqPlacement = { quantizedNodes: [], skippedNodes: [], weights: 0, activations: [] };
  const excluded = opts.excludeNodes.map((r) => new RegExp(r));
  const isExcluded = (n: NodeProto) => excluded.some((r) => r.test(n.name || n.output[0]!));
  const takesMatMul = !opts.excludeOps.includes('MatMul');
  if (!opts.excludeOps.includes('Gemm')) gemmsToMatMul(model, (n) => !isExcluded(n));
  const g = model.graph;
  const used = usedNames(g);
  const name = (base: string) => uniqueName(used, base);
  const index = indexGraph(g);
  const newInits: TensorProto[] = [];
  const candidates = weightMatMuls(model, (n) => takesMatMul && !isExcluded(n));
  for (const n of g.node) {
    if (n.opType === 'MatMul' && !candidates.has(n)) {
      const why = !takesMatMul ? 'excluded by op type' : isExcluded(n) ? 'excluded by name' : 'activation × activation MatMul (target: cpu keeps attention float)';
      placement.skippedNodes.push({ node: n.name || n.output[0]!, reason: why });
    }
  }

  // Q/K/V: weight MatMuls with bias that read the same tensor, fused into one (fuseQkv).
  const groups = new Map<string, WeightMatMul[]>();
  for (const c of candidates.values()) {
    const list = groups.get(c.node.input[0]!) ?? [];
    list.push(c);
    groups.set(c.node.input[0]!, list);
  }
  // Whole self-attention blocks as QAttention (fuseAttention): their projections are taken here.
  const blocks = (opts.fuseAttention ?? true) ? attentionBlocks(model, groups.values()).filter((b) => Math.abs(b.scale * Math.sqrt(tensorDims(index.initializers.get(b.qkv[0].node.input[1]!)!)[1]! / b.heads) - 1) < 1e-6) : [];
  const inBlock = new Set(blocks.flatMap((b) => b.nodes));
  const blockNames = new Set([...inBlock].map((n) => n.name || n.output[0]!));
  placement.skippedNodes = placement.skippedNodes.filter((x) => !blockNames.has(x.node));
  const blockAt = new Map(blocks.map((b) => [g.node.find((n) => b.qkv.some((m) => m.node === n))!, b]));
  const fused = new Map<NodeProto, { members: WeightMatMul[]; weight: string; bias: string }>();
  const concatenated = (members: WeightMatMul[]) => {
    const k = tensorDims(index.initializers.get(members[0]!.node.input[1]!)!)[0]!;
    const widths = members.map((m) => tensorDims(index.initializers.get(m.node.input[1]!)!)[1]!);
    const total = widths.reduce((a, b) => a + b, 0);
    const w = new Float32Array(k * total);
    const b = new Float32Array(total);
    let offset = 0;
    members.forEach((m, i) => {
      const v = floatValues(index.initializers.get(m.node.input[1]!)!);
      const cols = widths[i]!;
      for (let r = 0; r < k; r++) w.set(v.subarray(r * cols, (r + 1) * cols), r * total + offset);
      b.set(floatValues(index.initializers.get(m.bias!)!), offset);
      offset += cols;
    });
    const weight = name(`${members[0]!.node.input[1]}_qkv`);
    const bias = name(`${members[0]!.bias}_qkv`);
    const wt = makeFloatTensor(weight, [k, total], w);
    const bt = makeFloatTensor(bias, [total], b);
    newInits.push(wt, bt);
    index.initializers.set(weight, wt);
    index.initializers.set(bias, bt);
    return { weight, bias };
  };
  if (opts.fuseQkv ?? true) {
    for (const members of groups.values()) {
      if (members.length < 2 || members.some((m) => !m.bias) || members.some((m) => inBlock.has(m.node))) continue;
      const k = tensorDims(index.initializers.get(members[0]!.node.input[1]!)!)[0]!;
      if (members.some((m) => tensorDims(index.initializers.get(m.node.input[1]!)!)[0] !== k)) continue;
      fused.set(members[0]!.node, { members, ...concatenated(members) });
    }
  }
  const inFusion = new Set([...fused.values()].flatMap((f) => f.members.map((m) => m.node)));

  const activations = new Map<string, { q: string; scale: string; zeroPoint: string; act: ActivationQuant }>();
  const quantizeActivation = (tensor: string, reader: string, out: NodeProto[]) => {
    let a = activations.get(tensor);
    if (!a) {
      const scale = name(`${tensor}_scale`);
      const zeroPoint = name(`${tensor}_zero_point`);
      newInits.push(makeFloatTensor(scale, [], Float32Array.of(1)), makeUint8Tensor(zeroPoint, [], new Uint8Array(1)));
      a = { q: name(`${tensor}_quantized`), scale, zeroPoint, act: { tensor, scales: [scale], zeroPoints: [zeroPoint], consumers: [] } };
      out.push({ opType: 'QuantizeLinear', input: [tensor, scale, zeroPoint], output: [a.q], name: name(`${tensor}_QuantizeLinear`), attribute: [] });
      activations.set(tensor, a);
      placement.activations.push(a.act);
    }
    a.act.consumers.push(reader);
    return a;
  };
  const quantizeWeight = (tensor: string) => {
    const t = index.initializers.get(tensor)!;
    const dims = tensorDims(t);
    const q = name(`${tensor}_quantized`);
    const scale = name(`${tensor}_scale`);
    const zeroPoint = name(`${tensor}_zero_point`);
    if (opts.weights === 'per-channel') {
      const r = quantizeWeightsPerChannel(floatValues(t), dims, 1);
      newInits.push(makeInt8Tensor(q, dims, r.q), makeFloatTensor(scale, [r.scales.length], r.scales), makeInt8Tensor(zeroPoint, [r.scales.length], new Int8Array(r.scales.length)));
    } else {
      const r = quantizeWeightsPerTensor(floatValues(t));
      newInits.push(makeInt8Tensor(q, dims, r.q), makeFloatTensor(scale, [], Float32Array.of(r.scale)), makeInt8Tensor(zeroPoint, [], new Int8Array(1)));
    }
    placement.weights++;
    return { q, scale, zeroPoint };
  };
  const integerMatMul = (input: string, weight: string, bias: string | undefined, output: string, label: string, out: NodeProto[]) => {
    const a = quantizeActivation(input, label, out);
    const w = quantizeWeight(weight);
    out.push({ opType: 'MatMulIntegerToFloat', domain: MS, name: name(`${label}_MatMulIntegerToFloat`), input: [a.q, w.q, a.scale, w.scale, a.zeroPoint, w.zeroPoint, ...(bias ? [bias] : [])], output: [output], attribute: [] });
  };

  const dropped = new Set<NodeProto>();
  const out: NodeProto[] = [];
  const masks = new Map<string, string>();
  for (const n of g.node) {
    if (dropped.has(n)) continue;
    const label = n.name || n.output[0]!;
    const block = blockAt.get(n);
    if (block) {
      // QAttention(X_q, W_qkv, bias, X_scale, W_scale, mask_index, X_zp, W_zp): the raw [batch, seq]
      // mask as int32 (0 = padding), per-column weight scales over the 3·hidden columns.
      const { weight, bias } = concatenated(block.qkv);
      const x = block.qkv[0].node.input[0]!;
      const a = quantizeActivation(x, `${label}_QAttention`, out);
      const w = quantizeWeight(weight);
      let mask = masks.get(block.maskInput);
      if (!mask) {
        mask = name(`${block.maskInput}_int32`);
        out.push({ opType: 'Cast', name: name(`${block.maskInput}_Cast_int32`), input: [block.maskInput], output: [mask], attribute: [{ name: 'to', type: 2, i: DataType.INT32 }] });
        masks.set(block.maskInput, mask);
      }
      out.push({
        opType: 'QAttention',
        domain: MS,
        name: name(`${label}_QAttention`),
        input: [a.q, w.q, bias, a.scale, w.scale, mask, a.zeroPoint, w.zeroPoint],
        output: [block.output],
        attribute: [{ name: 'num_heads', type: 2, i: block.heads }],
      });
      for (const d of block.nodes) dropped.add(d);
      for (const m of block.qkv) placement.quantizedNodes.push(m.node.name || m.node.output[0]!);
      continue;
    }
    if (inBlock.has(n)) continue;
    const f = fused.get(n);
    if (f) {
      const joined = name(`${label}_qkv_output`);
      integerMatMul(n.input[0]!, f.weight, f.bias, joined, `${label}_qkv`, out);
      const widths = f.members.map((m) => tensorDims(index.initializers.get(m.node.input[1]!)!)[1]!);
      const split = name(`${label}_qkv_split`);
      newInits.push(makeInt64Tensor(split, [widths.length], widths));
      out.push({ opType: 'Split', name: name(`${label}_qkv_Split`), input: [joined, split], output: f.members.map((m) => m.add!.output[0]!), attribute: [{ name: 'axis', type: 2, i: -1 }] });
      for (const m of f.members) {
        dropped.add(m.add!);
        placement.quantizedNodes.push(m.node.name || m.node.output[0]!);
      }
      continue;
    }
    if (inFusion.has(n)) continue;
    const c = candidates.get(n);
    if (!c) {
      out.push(n);
      continue;
    }
    integerMatMul(n.input[0]!, n.input[1]!, c.bias, c.add ? c.add.output[0]! : n.output[0]!, label, out);
    if (c.add) dropped.add(c.add);
    placement.quantizedNodes.push(label);
  }
  g.node = out;
  g.initializer.push(...newInits);
  // Float weights and biases nothing reads any more go (the int8 copies replace them).
  const read = new Set(out.flatMap((x) => x.input));
  for (const o of g.output) read.add(o.name);
  const unused = new Set(g.initializer.filter((t) => !read.has(t.name ?? '')).map((t) => t.name ?? ''));
  g.initializer = g.initializer.filter((t) => !unused.has(t.name ?? ''));
  if (unused.size) g.input = g.input.filter((i) => !unused.has(i.name));
  if (!model.opsetImport.some((o) => o.domain === MS)) model.opsetImport.push({ domain: MS, version: 1 });
  return placement;
}
