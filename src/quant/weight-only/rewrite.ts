// Which MatMuls of a model are weight-only quantized, and rewriting them into one of the two forms
// (src/quant/weight-only/forms.ts). A candidate is a MatMul whose second input is a 2-D float32
// initializer B [K, N] (docs/decoder-contract: every linear layer of an exported decoder; the
// attention MatMuls have two activations and are left alone).
import { errors } from '../../errors.ts';
import { indexGraph, opsetVersion, usedNames, uniqueName } from '../../onnx/graph.ts';
import { tensorDims } from '../../onnx/tensor.ts';
import { DataType, toNumber, type ModelProto, type NodeProto, type TensorProto } from '../../onnx/types.ts';
import type { QuantizedWeight } from './block-quant.ts';
import { gatherForm, matmulNbitsForm, qdqForm, type FormResult, type WeightForm } from './forms.ts';
import { attrInt } from '../../onnx/graph.ts';

export interface WeightMatMul {
  node: NodeProto;
  /** The MatMul's activation input (A). */
  input: string;
  weight: TensorProto;
  K: number;
  N: number;
}

/** MatMuls with a constant 2-D float32 B, in graph order, minus those whose name matches `exclude`. */
export function weightMatMuls(model: ModelProto, exclude: string[] = []): { targets: WeightMatMul[]; excluded: string[] } {
  const { initializers } = indexGraph(model.graph);
  const patterns = exclude.map((p) => new RegExp(p));
  const targets: WeightMatMul[] = [];
  const excluded: string[] = [];
  for (const node of model.graph.node) {
    if (node.opType !== 'MatMul' || (node.domain ?? '') !== '') continue;
    const w = initializers.get(node.input[1] ?? '');
    if (!w || (w.dataType ?? 0) !== DataType.FLOAT || w.dims.length !== 2) continue;
    const name = node.name ?? node.output[0]!;
    if (patterns.some((p) => p.test(name))) {
      excluded.push(name);
      continue;
    }
    const [K, N] = tensorDims(w) as [number, number];
    targets.push({ node, input: node.input[0]!, weight: w, K, N });
  }
  return { targets, excluded };
}

export interface WeightGather {
  node: NodeProto;
  weight: TensorProto;
  /** Rows (vocabulary) and row length (hidden size) of the table. */
  V: number;
  H: number;
}

/**
 * Embedding lookups: Gather(table, ids) on axis 0 of a 2-D float32 initializer with computed
 * indices (token and position embeddings), minus those whose name matches `exclude`.
 */
export function embeddingGathers(model: ModelProto, exclude: string[] = []): { targets: WeightGather[]; excluded: string[] } {
  const { initializers } = indexGraph(model.graph);
  const patterns = exclude.map((p) => new RegExp(p));
  const targets: WeightGather[] = [];
  const excluded: string[] = [];
  for (const node of model.graph.node) {
    if (node.opType !== 'Gather' || (node.domain ?? '') !== '' || attrInt(node, 'axis', 0) !== 0) continue;
    const w = initializers.get(node.input[0] ?? '');
    if (!w || (w.dataType ?? 0) !== DataType.FLOAT || w.dims.length !== 2 || initializers.has(node.input[1] ?? '')) continue;
    const name = node.name ?? node.output[0]!;
    if (patterns.some((p) => p.test(name))) {
      excluded.push(name);
      continue;
    }
    const [V, H] = tensorDims(w) as [number, number];
    targets.push({ node, weight: w, V, H });
  }
  return { targets, excluded };
}

export interface RewriteSummary {
  quantizedMatMuls: number;
  /** Float weights no other node reads any more, removed from the graph. */
  removedWeights: number;
}

/**
 * Replaces each target MatMul's float weight by its quantized form, in place. A float initializer
 * that another node still reads (a weight shared with a Gather) stays; the others are removed.
 */
export function rewriteWeightMatMuls(model: ModelProto, targets: WeightMatMul[], quantized: Map<string, QuantizedWeight>, form: WeightForm, accuracyLevel: number, gathers: WeightGather[] = []): RewriteSummary {
  const used = usedNames(model.graph);
  const graph = model.graph;
  const results: FormResult[] = [];
  const newNodes: NodeProto[] = [];
  const byNode = new Map(targets.map((t) => [t.node, t]));
  // One QDQ DequantizeLinear per weight, shared by the MatMuls reading it.
  const dequantizedOf = new Map<string, string>();
  const gatherOf = new Map(gathers.map((t) => [t.node, t]));
  for (const node of graph.node) {
    const e = gatherOf.get(node);
    if (e) {
      const wName = e.weight.name ?? '';
      const q = quantized.get(wName);
      if (!q) throw new Error(`no quantized table for ${wName}`);
      const r = gatherForm(q, node, { weight: wName, node: node.name || node.output[0]! }, form);
      results.push(r);
      newNodes.push(...r.nodes);
      continue;
    }
    const t = byNode.get(node);
    if (!t) {
      newNodes.push(node);
      continue;
    }
    const wName = t.weight.name ?? '';
    const q = quantized.get(wName);
    if (!q) throw new Error(`no quantized weight for ${wName}`);
    const names = { weight: wName, node: node.name || node.output[0]! };
    if (form === 'matmulnbits') {
      const r = matmulNbitsForm(q, node.input[0]!, node.output[0]!, names, accuracyLevel);
      results.push(r);
      newNodes.push(...r.nodes);
    } else {
      let dq = dequantizedOf.get(wName);
      if (!dq) {
        dq = uniqueName(used, `${wName}_DequantizeLinear_Output`);
        dequantizedOf.set(wName, dq);
        const r = qdqForm(q, dq, names);
        results.push(r);
        newNodes.push(...r.nodes);
      }
      newNodes.push({ ...node, input: [node.input[0]!, dq, ...node.input.slice(2)] });
    }
  }
  graph.node = newNodes;
  // Initializers: the new ones once each (a weight read by several MatMulNBits nodes is packed once).
  const have = new Set(graph.initializer.map((t) => t.name));
  for (const r of results) for (const t of r.initializers) if (!have.has(t.name)) (graph.initializer.push(t), have.add(t.name));
  const stillRead = new Set(graph.node.flatMap((n) => n.input));
  const before = graph.initializer.length;
  const quantizedNames = new Set([...targets, ...gathers].map((t) => t.weight.name));
  graph.initializer = graph.initializer.filter((t) => !quantizedNames.has(t.name) || stillRead.has(t.name ?? ''));
  const removedWeights = before - graph.initializer.length;
  // Graph inputs that once listed the weights (old exporters) go with them.
  graph.input = graph.input.filter((i) => !quantizedNames.has(i.name) || stillRead.has(i.name));

  const needOpset = Math.max(0, ...results.map((r) => r.minOpset));
  const opset = opsetVersion(model);
  if (needOpset > opset) {
    throw errors.usage(
      `weights.quantize: the QDQ form of ${quantized.values().next().value?.bits}-bit block-wise weights needs DequantizeLinear with block_size (ONNX opset ${needOpset}); the model has opset ${opset}`,
      'export the model with opset 21 (onnx.export of decoders does), or use `form: matmulnbits`',
    );
  }
  const needIr = Math.max(0, ...results.map((r) => r.minIrVersion));
  if (toNumber(model.irVersion) < needIr) model.irVersion = needIr;
  if (results.some((r) => r.msDomain) && !model.opsetImport.some((o) => o.domain === 'com.microsoft')) model.opsetImport.push({ domain: 'com.microsoft', version: 1 });
  return { quantizedMatMuls: targets.length, removedWeights };
}
