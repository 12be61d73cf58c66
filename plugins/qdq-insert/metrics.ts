// What the qdq.insert step reports (src/engine/plugin.ts MetricsDeclaration). Plain data, so the reports,
// the gate check and docs/recipe-reference.md read it without loading the plugin.
import type { MetricsDeclaration } from '../../src/engine/plugin.ts';

export const qdqInsertMetrics: MetricsDeclaration = {
  mode: { type: 'text', description: 'The quantization mode (static, weight-only, dynamic).' },
  target: { type: 'text', description: "The int8 form written: 'tensorrt' (Q/DQ pairs) or 'cpu' (onnxruntime's MatMulIntegerToFloat form, src/quant/placement-profile.ts)." },
  quantizedNodes: { unit: 'count', better: 'none', description: 'Nodes that got Q/DQ.' },
  weightTensors: { unit: 'count', better: 'none', description: 'Weight tensors quantized.' },
  activationTensors: { unit: 'count', better: 'none', description: 'Activation tensors given a QuantizeLinear/DequantizeLinear pair.' },
  qdqPairs: { unit: 'count', better: 'none', description: 'Q/DQ pairs inserted (one per consumer of a quantized activation).' },
  residualAdds: { unit: 'count', better: 'none', description: 'Residual Adds whose inputs were quantized (residualAdd option).' },
  concats: { unit: 'count', better: 'none', description: 'Concats whose inputs were quantized to share one scale (concat option).' },
  placement: { type: 'text', description: "Whose placement: 'recipe' (ops given), or the default the model got: 'cnn' or 'transformer'." },
  skipped: { type: 'table', description: 'Nodes of the quantized op types left in float, with the reason (exclude, rule).' },
};
