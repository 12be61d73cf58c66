// The per-MatMul statistic GPTQ needs, H = Σ x xᵀ over every calibration token x (K × K) of a
// MatMul's input, computed by onnxruntime itself: the FP32 model gets, for each input tensor, a
// Reshape to [tokens, K], a Transpose and a MatMul whose [K, K] result is a graph output. Each batch's
// Gram matrix (float32, one sequence's tokens) is added into a float64 sum here, so nothing grows with
// the number of tokens and onnxruntime's GEMM does the O(tokens · K²) work instead of JavaScript
// loops. MatMuls reading the same tensor (Q, K, V of a Llama layer) share one H.
import type ort from 'onnxruntime-node';
import { makeInt64Tensor } from '../../onnx/tensor.ts';
import { usedNames, uniqueName } from '../../onnx/graph.ts';
import { DataType, type ModelProto, type NodeProto } from '../../onnx/types.ts';

export interface GramRequest {
  tensor: string;
  K: number;
}

/** A copy of `model` (graph only is changed) with one [K, K] Gram output per requested tensor, in order. */
export function modelWithGramOutputs(model: ModelProto, requests: GramRequest[]): { model: ModelProto; outputs: string[] } {
  const used = usedNames(model.graph);
  const nodes: NodeProto[] = [];
  const initializer = [...model.graph.initializer];
  const output = [...model.graph.output];
  const outputs: string[] = [];
  for (const { tensor, K } of requests) {
    const shape = uniqueName(used, `${tensor}/gram/shape`);
    const rows = uniqueName(used, `${tensor}/gram/rows`);
    const cols = uniqueName(used, `${tensor}/gram/rows_t`);
    const gram = uniqueName(used, `${tensor}/gram`);
    initializer.push(makeInt64Tensor(shape, [2], [-1, K]));
    nodes.push(
      { name: uniqueName(used, `${tensor}/gram/Reshape`), opType: 'Reshape', domain: '', input: [tensor, shape], output: [rows], attribute: [] },
      { name: uniqueName(used, `${tensor}/gram/Transpose`), opType: 'Transpose', domain: '', input: [rows], output: [cols], attribute: [{ name: 'perm', type: 7, ints: [1, 0] }] },
      { name: uniqueName(used, `${tensor}/gram/MatMul`), opType: 'MatMul', domain: '', input: [cols, rows], output: [gram], attribute: [] },
    );
    output.push({ name: gram, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: K }, { dimValue: K }] } } } });
    outputs.push(gram);
  }
  return { model: { ...model, graph: { ...model.graph, node: [...model.graph.node, ...nodes], initializer, output } }, outputs };
}

/**
 * Runs every batch and sums each Gram output into a float64 K × K matrix. `feeds` builds one batch's
 * inputs at a time (freed after the run).
 */
export async function collectHessians(
  session: ort.InferenceSession,
  batches: { feeds(): Record<string, ort.Tensor> }[],
  grams: string[],
  sizes: number[],
  opts: { signal?: AbortSignal; onBatch?: (done: number, total: number) => void } = {},
): Promise<Float64Array[]> {
  const sums = sizes.map((K) => new Float64Array(K * K));
  for (let b = 0; b < batches.length; b++) {
    if (opts.signal?.aborted) throw new Error('interrupted');
    const feeds = batches[b]!.feeds();
    const out = await session.run(feeds, grams);
    try {
      grams.forEach((name, i) => {
        const g = out[name]!.data as Float32Array;
        const s = sums[i]!;
        for (let j = 0; j < g.length; j++) s[j] = s[j]! + g[j]!;
      });
    } finally {
      for (const t of Object.values(out)) t.dispose?.();
      for (const t of Object.values(feeds)) t.dispose?.();
    }
    opts.onBatch?.(b + 1, batches.length);
  }
  return sums;
}
