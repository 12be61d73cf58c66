// What the quantized model is called in the reports' FP32-vs-quantized tables, read from its graph:
// weight-only forms say their bits (com.microsoft.MatMulNBits' `bits`, or the 4-bit integer type
// of a block-wise DequantizeLinear's weights: ONNX INT4 = 22, UINT4 = 21); anything else is INT8.
import type { ModelProto } from '../../src/onnx/types.ts';
import { toNumber } from '../../src/onnx/types.ts';

const INT4_TYPES = new Set([21, 22]);

export function candidateLabel(model: ModelProto): string {
  const bits = new Set<number>();
  for (const n of model.graph.node) {
    if (n.opType === 'MatMulNBits' || n.opType === 'GatherBlockQuantized') {
      const a = n.attribute.find((x) => x.name === 'bits');
      bits.add(a?.i !== undefined && a.i !== null ? toNumber(a.i) : 4);
    }
  }
  if (model.graph.initializer.some((t) => INT4_TYPES.has(t.dataType ?? 0))) bits.add(4);
  if (bits.size === 0) return 'INT8';
  return [...bits].sort((a, b) => a - b).map((b) => `INT${b}`).join('/');
}
