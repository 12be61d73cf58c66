// onnxruntime's optimized graph by operator: what fused into integer kernels and what stays float.
import { readModelGraph } from '../src/runtime/model-file.ts';
import { createSession } from '../src/runtime/session.ts';

/** Operators that run on int8 data (or quantize / dequantize it) in onnxruntime's CPU graph. */
export const INTEGER_OPS = new Set(['QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'com.microsoft.MatMulIntegerToFloat', 'QLinearMatMul', 'com.microsoft.DynamicQuantizeMatMul', 'MatMulInteger', 'com.microsoft.QGemm', 'com.microsoft.QLinearAdd']);

/** Op counts of the graph onnxruntime runs for `model` at `optimization` (dumped to `dump`). */
export async function optimizedOps(model: string, dump: string, optimization: 'extended' | 'all' = 'all'): Promise<Map<string, number>> {
  const session = await createSession(model, { optimization, optimizedModelFilePath: dump });
  await session.release();
  const ops = new Map<string, number>();
  for (const n of (await readModelGraph(dump)).graph.node) {
    const k = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType;
    ops.set(k, (ops.get(k) ?? 0) + 1);
  }
  return ops;
}

export function formatOps(ops: Map<string, number>): string {
  return [...ops].sort(([, a], [, b]) => b - a).map(([k, v]) => `${k.replace('com.microsoft.', 'ms.')} ${v}`).join(', ');
}
