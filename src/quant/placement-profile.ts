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
//   Optionally (`fuseQkv`) the Q, K and V projections that read one tensor become one MatMul of
//   the concatenated weights followed by a Split: one int8 GEMM of width 3·hidden instead of three.
//   TensorRT cannot run com.microsoft ops: the profile is for onnxruntime on CPU only.
import { indexGraph, uniqueName, usedNames } from '../onnx/graph.ts';
import { makeFloatTensor, makeInt64Tensor, makeInt8Tensor, makeUint8Tensor, tensorDims } from '../onnx/tensor.ts';
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
  const fused = new Map<NodeProto, { members: WeightMatMul[]; weight: string; bias: string }>();
  if (opts.fuseQkv ?? true) {
    for (const members of groups.values()) {
      if (members.length < 2 || members.some((m) => !m.bias)) continue;
      const k = tensorDims(index.initializers.get(members[0]!.node.input[1]!)!)[0]!;
      if (members.some((m) => tensorDims(index.initializers.get(m.node.input[1]!)!)[0] !== k)) continue;
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
      newInits.push(makeFloatTensor(weight, [k, total], w), makeFloatTensor(bias, [total], b));
      index.initializers.set(weight, newInits[newInits.length - 2]!);
      index.initializers.set(bias, newInits[newInits.length - 1]!);
      fused.set(members[0]!.node, { members, weight, bias });
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
  for (const n of g.node) {
    if (dropped.has(n)) continue;
    const label = n.name || n.output[0]!;
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
