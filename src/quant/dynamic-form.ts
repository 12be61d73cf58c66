// mode: dynamic — the graph onnxruntime's own `quantize_dynamic(…, per_channel=…, weight_type=QInt8)`
// writes, node for node, so a qrun dynamic model runs exactly as fast as onnxruntime's (issue 14).
// Source: onnxruntime/python/tools/quantization (quantize.py quantize_dynamic, onnx_quantizer.py,
// operators/matmul.py MatMulInteger, operators/gather.py GatherQuant, onnx_model.py
// replace_gemm_with_matmul, quant_utils.py quantize_data / compute_scale_zp):
// - Gemm (alpha = beta = 1, transA = 0) first becomes MatMul (+ Add of the bias), a transB weight
//   stored transposed under its own name.
// - MatMul with a constant float B (MatMulConstBOnly, quantize_dynamic's default: Q·Kᵀ and P·V stay
//   float): B becomes int8 symmetric ([-127, 127], zero point 0), one scale per column (axis -1) or
//   one per tensor; A goes through ONE DynamicQuantizeLinear per tensor (uint8), shared by every
//   MatMul that reads it (Q, K and V read the same hidden state), then
//   MatMulInteger → Cast(float) → Mul(Cast, Mul(A_scale, B_scale)). onnxruntime's optimizer fuses that
//   chain into MatMulIntegerToFloat (DynamicQuantizeMatMul where the DynamicQuantizeLinear has one
//   reader): the activation is quantized once for Q, K and V instead of three times.
// - Gather of a constant float table (the embeddings): the table becomes uint8 per tensor, the
//   Gather reads it and a DequantizeLinear (before the first reader) gives the float rows back.
// - Names as onnxruntime writes them: `X_QuantizeLinear` → `X_quantized`, `X_scale`, `X_zero_point`;
//   `W_quantized`, `W_scale`, `W_zero_point`; `<node>_quant`, `<out>_output_quantized`, …
// Initializers nothing reads any more are removed (onnxruntime's clean_initializers), and the nodes
// are put in the order quantize_dynamic saves them (its topological sort).
// Not reproduced: Conv → ConvInteger, LSTM, Attention/EmbedLayerNormalization (contrib ops a graph
// from onnx.export does not hold) and 8-bit Transpose; those nodes stay float, with the reason.
import { attrInt, indexGraph, uniqueName, usedNames } from '../onnx/graph.ts';
import { makeFloatTensor, makeInt8Tensor, makeUint8Tensor, tensorDims, tensorSize, tensorToFloat32 } from '../onnx/tensor.ts';
import { DataType, type ModelProto, type NodeProto, type TensorProto } from '../onnx/types.ts';
import type { QdqPlacement } from './place-qdq.ts';
import { quantizeLinear, quantizeWeightsPerChannel, quantizeWeightsPerTensor } from './scale-math.ts';

export interface DynamicFormOptions {
  /** Operator types to quantize, of MatMul, Gemm and Gather (onnxruntime's default includes all three). */
  ops: string[];
  excludeOps: string[];
  /** Regular expressions on node names. */
  excludeNodes: string[];
  weights: 'per-channel' | 'per-tensor';
}

/** A tensor's quantized stand-in: onnxruntime's QuantizedValue. */
interface Quantized {
  q: string;
  scale: string;
  zeroPoint: string;
}

export function floatValues(t: TensorProto): Float32Array {
  const raw = t.rawData;
  const n = tensorSize(t);
  if (t.dataType === DataType.FLOAT && !t.externalData?.length && raw && raw.byteLength === n * 4 && raw.byteOffset % 4 === 0) return new Float32Array(raw.buffer, raw.byteOffset, n);
  return tensorToFloat32(t);
}

const node = (opType: string, input: string[], output: string[], name: string, attribute: NodeProto['attribute'] = []): NodeProto => ({ opType, input, output, name, attribute });

/** onnx_model.py replace_gemm_with_matmul: Gemm → MatMul [+ Add], for the Gemms dynamic quantization can take. */
export function gemmsToMatMul(model: ModelProto, eligible: (n: NodeProto) => boolean): void {
  const g = model.graph;
  const inits = new Map(g.initializer.map((t) => [t.name ?? '', t]));
  const out: NodeProto[] = [];
  for (const n of g.node) {
    const alpha = n.attribute.find((a) => a.name === 'alpha')?.f ?? 1;
    const beta = n.attribute.find((a) => a.name === 'beta')?.f ?? 1;
    if (n.opType !== 'Gemm' || (n.domain ?? '') !== '' || !eligible(n) || alpha !== 1 || beta !== 1 || attrInt(n, 'transA', 0)) {
      out.push(n);
      continue;
    }
    let b = n.input[1]!;
    if (attrInt(n, 'transB', 0)) {
      const w = inits.get(b);
      if (w && tensorDims(w).length === 2) {
        // onnxruntime replaces the initializer by its transpose under the same name (it assumes no
        // other reader); a weight shared with another node keeps its form under a new name here.
        const [rows, cols] = tensorDims(w) as [number, number];
        const v = floatValues(w);
        const t = new Float32Array(rows * cols);
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = v[r * cols + c]!;
        const shared = g.node.some((o) => o !== n && o.input.includes(b));
        const name = shared ? `${b}_transposed` : b;
        const transposed = makeFloatTensor(name, [cols, rows], t);
        if (shared) g.initializer.push(transposed);
        else g.initializer[g.initializer.indexOf(w)] = transposed;
        inits.set(name, transposed);
        b = name;
      } else {
        const tb = `${b}_Transposed`;
        out.push(node('Transpose', [b], [tb], n.name ? `${n.name}_Transpose` : ''));
        b = tb;
      }
    }
    const hasBias = n.input.length > 2 && !!n.input[2];
    out.push(node('MatMul', [n.input[0]!, b], [n.output[0]! + (hasBias ? '_MatMul' : '')], n.name ? `${n.name}_MatMul` : ''));
    if (hasBias) out.push(node('Add', [`${n.output[0]}_MatMul`, n.input[2]!], [n.output[0]!], n.name ? `${n.name}_Add` : ''));
  }
  g.node = out;
}

/**
 * Rewrites `model` into onnxruntime's quantize_dynamic form (header). Returns what was placed, in
 * qdq.insert's terms (no activation slots: scales are computed at run time).
 */
export function quantizeDynamicForm(model: ModelProto, opts: DynamicFormOptions): QdqPlacement {
  const placement: QdqPlacement = { quantizedNodes: [], skippedNodes: [], weights: 0, activations: [] };
  const excluded = opts.excludeNodes.map((r) => new RegExp(r));
  const wanted = (n: NodeProto) => opts.ops.includes(n.opType) && !opts.excludeOps.includes(n.opType) && (n.domain ?? '') === '';
  const isExcluded = (n: NodeProto) => excluded.some((r) => r.test(n.name || n.output[0]!));
  if (opts.ops.includes('Gemm') && !opts.excludeOps.includes('Gemm')) gemmsToMatMul(model, (n) => !isExcluded(n));

  const g = model.graph;
  const index = indexGraph(g);
  const used = usedNames(g);
  const floatTensor = (name: string) => {
    const t = index.initializers.get(name);
    return t !== undefined && t.dataType === DataType.FLOAT;
  };
  const quantized = new Map<string, Quantized>();
  const dynamicQuantizers = new Set<string>();
  /** Values that exist as float: graph inputs and every output written so far (onnxruntime's generated_value_names). */
  const generated = new Set(g.input.map((i) => i.name).filter((n) => !index.initializers.has(n)));
  const newInits: TensorProto[] = [];
  const out: NodeProto[] = [];
  const emit = (...nodes: NodeProto[]) => {
    out.push(...nodes);
    for (const n of nodes) for (const o of n.output) generated.add(o);
  };
  const name = (base: string) => uniqueName(used, base);

  /** quantize_weight_per_channel (axis -1) / quantize_initializer, int8 symmetric. */
  const weightInt8 = (w: string): Quantized => {
    let v = quantized.get(w);
    if (v) return v;
    const t = index.initializers.get(w)!;
    const dims = tensorDims(t);
    const values = floatValues(t);
    v = { q: name(`${w}_quantized`), scale: name(`${w}_scale`), zeroPoint: name(`${w}_zero_point`) };
    if (opts.weights === 'per-channel' && dims.length >= 2) {
      const r = quantizeWeightsPerChannel(values, dims, dims.length - 1);
      newInits.push(makeFloatTensor(v.scale, [r.scales.length], r.scales), makeInt8Tensor(v.zeroPoint, [r.scales.length], new Int8Array(r.scales.length)), makeInt8Tensor(v.q, dims, r.q));
    } else {
      const r = quantizeWeightsPerTensor(values);
      newInits.push(makeFloatTensor(v.scale, [], Float32Array.of(r.scale)), makeInt8Tensor(v.zeroPoint, [], new Int8Array(1)), makeInt8Tensor(v.q, dims, r.q));
    }
    quantized.set(w, v);
    placement.weights++;
    return v;
  };

  /**
   * A constant table read as an activation (Gather's data): uint8 with onnxruntime's "symmetric"
   * uint8 parameters (scale 2·absmax/255, zero point round(127.5) = 128), per tensor.
   */
  const tableUint8 = (w: string): Quantized => {
    let v = quantized.get(w);
    if (v) return v;
    const t = index.initializers.get(w)!;
    const values = floatValues(t);
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < values.length; i++) {
      const x = values[i]!;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    const absMax = Math.max(Math.abs(lo), Math.abs(hi));
    const scale = Math.fround((2 * absMax) / 255);
    const ok = scale >= 1.1754943508222875e-38; // numpy.finfo(float32).tiny: below it, scale 1 and zero point 0
    const s = Float32Array.of(ok ? scale : 1);
    const zp = Uint8Array.of(ok ? 128 : 0);
    v = { q: name(`${w}_quantized`), scale: name(`${w}_scale`), zeroPoint: name(`${w}_zero_point`) };
    newInits.push(makeFloatTensor(v.scale, [], s), makeUint8Tensor(v.zeroPoint, [], zp), makeUint8Tensor(v.q, tensorDims(t), quantizeLinear(values, tensorDims(t), s, zp) as Uint8Array));
    quantized.set(w, v);
    placement.weights++;
    return v;
  };

  /** A DequantizeLinear back to float before the first node that reads a quantized value as float. */
  const dequantizeInputs = (n: NodeProto) => {
    for (const input of n.input) {
      const v = quantized.get(input);
      if (!v || generated.has(input) || index.initializers.has(input)) continue;
      emit(node('DequantizeLinear', [v.q, v.scale, v.zeroPoint], [input], `${input}_DequantizeLinear`));
    }
  };

  const keepFloat = (n: NodeProto, why: string) => {
    placement.skippedNodes.push({ node: n.name || n.output[0]!, reason: why });
    dequantizeInputs(n);
    emit(n);
  };

  for (const n of g.node) {
    const label = n.name || n.output[0]!;
    // A Gather of anything but a constant float table (shape arithmetic) is no candidate at all.
    if (!wanted(n) || (n.opType === 'Gather' && !floatTensor(n.input[0]!))) {
      if (n.opType === 'Conv' && opts.ops.includes('Conv')) placement.skippedNodes.push({ node: label, reason: 'mode: dynamic quantizes MatMul, Gemm and Gather (onnxruntime fuses no ConvInteger on CPU)' });
      dequantizeInputs(n);
      emit(n);
      continue;
    }
    if (isExcluded(n)) {
      keepFloat(n, 'excluded by name');
      continue;
    }
    if (n.opType === 'Gather') {
      const table = tableUint8(n.input[0]!);
      const out0 = n.output[0]!;
      const qOut = name(`${out0}_quantized`);
      quantized.set(out0, { q: qOut, scale: table.scale, zeroPoint: table.zeroPoint });
      emit({ ...n, input: [table.q, ...n.input.slice(1)], output: [qOut, ...n.output.slice(1)] });
      placement.quantizedNodes.push(label);
      continue;
    }
    if (n.opType === 'Gemm') {
      keepFloat(n, 'mode: dynamic takes Gemm with alpha = beta = 1 and transA = 0 only');
      continue;
    }
    // MatMul (Gemms became MatMuls above).
    const [a, b] = n.input as [string, string];
    if (!floatTensor(b)) {
      keepFloat(n, 'activation × activation MatMul (mode: dynamic quantizes constant weights only, as quantize_dynamic does)');
      continue;
    }
    let x = quantized.get(a);
    if (!x) {
      x = { q: name(`${a}_quantized`), scale: name(`${a}_scale`), zeroPoint: name(`${a}_zero_point`) };
      emit(node('DynamicQuantizeLinear', [a], [x.q, x.scale, x.zeroPoint], name(`${a}_QuantizeLinear`)));
      quantized.set(a, x);
      dynamicQuantizers.add(a);
    }
    const w = weightInt8(b);
    const y = n.output[0]!;
    const mmName = n.name ? `${n.name}_quant` : '';
    const yInt = name(`${y}_output_quantized`);
    const yCast = name(`${yInt}_cast_output`);
    const scalesMul = mmName ? `${mmName}_scales_mul` : `${x.scale}_${w.scale}_mul`;
    emit(
      node('MatMulInteger', [x.q, w.q, x.zeroPoint, w.zeroPoint], [yInt], mmName),
      node('Cast', [yInt], [yCast], `${yInt}_cast`, [{ name: 'to', type: 2, i: DataType.FLOAT }]),
      node('Mul', [x.scale, w.scale], [name(`${scalesMul}:0`)], scalesMul),
    );
    emit(node('Mul', [yCast, out[out.length - 1]!.output[0]!], [y], mmName ? `${mmName}_output_scale_mul` : ''));
    placement.quantizedNodes.push(label);
  }
  // Graph outputs that are quantized values are dequantized (onnxruntime's _dequantize_outputs).
  for (const o of g.output) {
    const v = quantized.get(o.name);
    if (v && !generated.has(o.name) && !index.initializers.has(o.name)) emit(node('DequantizeLinear', [v.q, v.scale, v.zeroPoint], [o.name], `${o.name}_DequantizeLinear`));
  }
  g.node = out;
  g.initializer.push(...newInits);
  // clean_initializers: what no node reads (the float weights the int8 copies replace) goes, and
  // its graph input too where the model lists initializers as inputs.
  const read = new Set(out.flatMap((n) => n.input));
  for (const o of g.output) read.add(o.name);
  const dropped = new Set(g.initializer.filter((t) => !read.has(t.name ?? '')).map((t) => t.name ?? ''));
  g.initializer = g.initializer.filter((t) => !dropped.has(t.name ?? ''));
  if (dropped.size) g.input = g.input.filter((i) => !dropped.has(i.name));
  onnxruntimeTopologicalSort(g);
  return placement;
}

/**
 * The node order quantize_dynamic saves (quantization/onnx_model.py ONNXModel.topological_sort, run by
 * save_model_to_file): nodes without inputs first, then those made ready by the initializers and
 * graph inputs taken in sorted name order, then breadth-first by outputs. Checked against Python
 * onnxruntime by the device job s1-speed (node for node, order included).
 */
export function onnxruntimeTopologicalSort(g: ModelProto['graph']): void {
  const nodes = g.node;
  const deps = nodes.map((n) => n.input.filter(Boolean).length);
  const readers = new Map<string, number[]>();
  const sorted: NodeProto[] = [];
  nodes.forEach((n, i) => {
    if (deps[i] === 0) {
      sorted.push(n);
      return;
    }
    for (const x of n.input) {
      if (!x) continue;
      const list = readers.get(x);
      if (list) list.push(i);
      else readers.set(x, [i]);
    }
  });
  const release = (tensor: string) => {
    for (const i of readers.get(tensor) ?? []) if (--deps[i]! === 0) sorted.push(nodes[i]!);
  };
  const names = [...g.initializer.map((t) => t.name ?? ''), ...g.input.map((i) => i.name)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  names.forEach((n, k) => n !== names[k - 1] && release(n));
  for (let k = 0; k < sorted.length; k++) for (const o of sorted[k]!.output) release(o);
  if (sorted.length !== nodes.length) throw new Error(`mode: dynamic: the graph is not a DAG (${nodes.length - sorted.length} nodes unreachable)`);
  g.node = sorted;
}
