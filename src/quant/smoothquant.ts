// SmoothQuant (Xiao et al., 2023, https://arxiv.org/abs/2211.10438): activation outliers sit in a
// few channels, which per-tensor int8 activations handle badly; weights are easy to quantize per
// channel. Dividing activation channel j by s_j and multiplying the matching weight row by s_j keeps
// X·W unchanged and moves the difficulty over:
//     s_j = max|X_j|^α / max|W_j|^(1−α)      (α = 0.5 balances the two)
// The division is folded into the preceding LayerNormalization (γ_j / s_j, β_j / s_j), the
// multiplication into the MatMul/Gemm weights that read the LayerNorm output. Readers of that output
// that are not such weights (BERT's residual Add: post-LN models feed it to the next residual too)
// get the original values back through one Mul by s, so the FP32 model computes the same numbers.
// LayerNormalization: https://onnx.ai/onnx/operators/onnx__LayerNormalization.html
import { attrInt, indexGraph, uniqueName, usedNames } from '../onnx/graph.ts';
import { makeFloatTensor, tensorDims, tensorToFloat32 } from '../onnx/tensor.ts';
import { DataType, type ModelProto, type NodeProto, type TensorProto } from '../onnx/types.ts';

export interface SmoothTarget {
  layerNorm: NodeProto;
  /** The LayerNorm output (the activation to smooth). */
  tensor: string;
  /** MatMul/Gemm nodes reading it as input 0 with a constant weight whose rows are its channels. */
  weighted: NodeProto[];
  /** Other readers (or a graph output): they get the unsmoothed values back. */
  others: NodeProto[];
  isGraphOutput: boolean;
}

/** Weight rows (input channels) of `node`'s constant weight: [K, N] for MatMul, per transB for Gemm. */
function weightRowsAxis(node: NodeProto): number {
  return node.opType === 'Gemm' && attrInt(node, 'transB', 0) ? 1 : 0;
}

export function findSmoothTargets(model: ModelProto): SmoothTarget[] {
  const g = model.graph;
  const index = indexGraph(g);
  const targets: SmoothTarget[] = [];
  for (const ln of g.node) {
    if (ln.opType !== 'LayerNormalization' || (ln.domain ?? '') !== '') continue;
    if (!index.initializers.has(ln.input[1]!) || (ln.input[2] && !index.initializers.has(ln.input[2]))) continue;
    // Normalized over the last axis only, so γ has one value per channel of the MatMul's K axis.
    if (attrInt(ln, 'axis', -1) !== -1 || tensorDims(index.initializers.get(ln.input[1]!)!).length !== 1) continue;
    const tensor = ln.output[0]!;
    const channels = tensorDims(index.initializers.get(ln.input[1]!)!)[0]!;
    const weighted: NodeProto[] = [];
    const others: NodeProto[] = [];
    for (const c of index.consumers.get(tensor) ?? []) {
      const w = index.initializers.get(c.input[1] ?? '');
      const ok =
        (c.opType === 'MatMul' || (c.opType === 'Gemm' && !attrInt(c, 'transA', 0))) &&
        (c.domain ?? '') === '' &&
        c.input[0] === tensor &&
        c.input[1] !== tensor &&
        w?.dataType === DataType.FLOAT &&
        tensorDims(w).length === 2 &&
        tensorDims(w)[weightRowsAxis(c)] === channels;
      (ok ? weighted : others).push(c);
    }
    if (weighted.length) targets.push({ layerNorm: ln, tensor, weighted, others, isGraphOutput: index.graphOutputs.has(tensor) });
  }
  return targets;
}

/** Largest |w| of each input channel (row) over all the target's weights. */
function weightChannelMax(t: SmoothTarget, inits: Map<string, TensorProto>, channels: number): Float64Array {
  const out = new Float64Array(channels);
  for (const n of t.weighted) {
    const w = inits.get(n.input[1]!)!;
    const [r, c] = tensorDims(w) as [number, number];
    const v = tensorToFloat32(w);
    const rowsAxis = weightRowsAxis(n);
    for (let i = 0; i < r; i++)
      for (let j = 0; j < c; j++) {
        const ch = rowsAxis === 0 ? i : j;
        const a = Math.abs(v[i * c + j]!);
        if (a > out[ch]!) out[ch] = a;
      }
  }
  return out;
}

export function smoothingFactors(activationMax: Float32Array | Float64Array, weightMax: Float64Array, alpha: number): Float32Array {
  return Float32Array.from(activationMax, (a, j) => {
    const w = weightMax[j]!;
    if (!(a > 0) || !(w > 0)) return 1; // a dead channel: nothing to move
    const s = a ** alpha / w ** (1 - alpha);
    return Math.min(1e4, Math.max(1e-4, s));
  });
}

export interface SmoothResult {
  layerNorms: number;
  weights: number;
  /** Mul nodes inserted to give non-weight readers the original values. */
  restored: number;
  /** Per LayerNorm: the spread of its activation channel maxima before and after (max / median). */
  spread: { tensor: string; before: number; after: number }[];
}

const spreadOf = (v: ArrayLike<number>) => {
  const s = Array.from(v).sort((a, b) => a - b);
  const median = s[Math.floor(s.length / 2)]!;
  return median > 0 ? s[s.length - 1]! / median : 0;
};

/**
 * Applies SmoothQuant in place. `activationMax` maps each target tensor to its per-channel max |x|
 * over calibration data (last axis).
 */
export function applySmoothQuant(model: ModelProto, targets: SmoothTarget[], activationMax: Map<string, Float32Array>, alpha: number): SmoothResult {
  const g = model.graph;
  const inits = new Map(g.initializer.map((t) => [t.name ?? '', t]));
  const used = usedNames(g);
  const result: SmoothResult = { layerNorms: 0, weights: 0, restored: 0, spread: [] };
  const replaced = new Set<string>();
  const inserts = new Map<NodeProto, NodeProto>(); // LayerNorm → the Mul that follows it
  for (const t of targets) {
    const gamma = tensorToFloat32(inits.get(t.layerNorm.input[1]!)!);
    const channels = gamma.length;
    const xMax = activationMax.get(t.tensor);
    if (!xMax || xMax.length !== channels) continue;
    const s = smoothingFactors(xMax, weightChannelMax(t, inits, channels), alpha);
    // LayerNorm: γ / s, β / s (new initializers: never edit a tensor something else may share).
    const scaled = (name: string, f: (v: number, j: number) => number) => {
      const src = tensorToFloat32(inits.get(name)!);
      const out = uniqueName(used, `${name}_smoothed`);
      const tensor = makeFloatTensor(out, tensorDims(inits.get(name)!), Float32Array.from(src, f));
      g.initializer.push(tensor);
      inits.set(out, tensor);
      replaced.add(name);
      return out;
    };
    t.layerNorm.input[1] = scaled(t.layerNorm.input[1]!, (v, j) => v / s[j]!);
    if (t.layerNorm.input[2]) t.layerNorm.input[2] = scaled(t.layerNorm.input[2], (v, j) => v / s[j]!);
    for (const n of t.weighted) {
      const cols = tensorDims(inits.get(n.input[1]!)!)[1]!;
      const rowsAxis = weightRowsAxis(n);
      n.input[1] = scaled(n.input[1]!, (v, k) => v * s[rowsAxis === 0 ? Math.floor(k / cols) : k % cols]!);
      result.weights++;
    }
    // The LayerNorm now writes the smoothed tensor; the original name is restored by a Mul when read.
    const smoothed = uniqueName(used, `${t.tensor}_smoothed`);
    t.layerNorm.output[0] = smoothed;
    for (const n of t.weighted) n.input[0] = smoothed;
    if (t.others.length || t.isGraphOutput) {
      const sName = uniqueName(used, `${t.tensor}_smooth_factors`);
      g.initializer.push(makeFloatTensor(sName, [channels], s));
      inserts.set(t.layerNorm, { input: [smoothed, sName], output: [t.tensor], name: uniqueName(used, `${t.layerNorm.name || t.tensor}/smoothquant_restore`), opType: 'Mul', attribute: [] });
      result.restored++;
    } else {
      g.valueInfo = g.valueInfo.filter((v) => v.name !== t.tensor);
    }
    result.layerNorms++;
    const after = Float32Array.from(xMax, (v, j) => v / s[j]!);
    result.spread.push({ tensor: t.tensor, before: spreadOf(xMax), after: spreadOf(after) });
  }
  if (inserts.size) g.node = g.node.flatMap((n) => (inserts.has(n) ? [n, inserts.get(n)!] : [n]));
  const read = new Set([...g.node.flatMap((n) => n.input), ...g.output.map((o) => o.name)]);
  g.initializer = g.initializer.filter((t) => !(replaced.has(t.name ?? '') && !read.has(t.name ?? '')));
  return result;
}
