// What the sensitivity step reports (src/engine/plugin.ts MetricsDeclaration). Plain data, so the reports,
// the gate check and docs/recipe-reference.md read it without loading the plugin.
import type { MetricsDeclaration } from '../../src/engine/plugin.ts';

export const sensitivityMetrics: MetricsDeclaration = {
  samples: { unit: 'count', better: 'none', description: 'Evaluation samples each configuration was scored on.' },
  logitsOutput: { type: 'text', description: 'The graph output compared as the logits.' },
  quantizedNodes: { unit: 'count', better: 'none', description: 'Quantized nodes whose sensitivity was measured.' },
  full: {
    type: 'object',
    description: 'Every measured node in INT8.',
    fields: {
      agreement: { unit: 'ratio', better: 'higher', description: 'Agreement with FP32 with every node in INT8.' },
      sqnrDb: { unit: 'dB', better: 'higher', description: 'Signal-to-quantization-noise ratio of the logits.' },
      maxAbsError: { unit: 'number', better: 'lower', description: 'Largest absolute logit difference from FP32.' },
      accuracy: { unit: 'ratio', better: 'higher', description: 'Label accuracy; null without labels.' },
    },
  },
  mostSensitive: { type: 'table', role: 'layer-sensitivity', description: 'The 10 nodes whose quantization alone costs most, with their agreement and SQNR.' },
  target: { type: 'object', description: 'The `target` option (what the fallback must reach); null without one.' },
  targetMet: { type: 'flag', description: 'Whether the final model meets the target; null without one.' },
  fallbackMode: { type: 'text', optional: true, description: 'How the fallback chose its nodes: "target" (the fewest that meet it), "layers: N" (the N most sensitive), or null (measured only).' },
  fallback: { type: 'list', description: 'Nodes returned to float (to meet the target, or the N most sensitive), most sensitive first.' },
  fallbackCount: { unit: 'count', better: 'lower', description: 'How many nodes were returned to float.' },
  evaluations: { unit: 'count', better: 'none', description: 'Models scored (each node alone, full INT8, FP32, the fallback tries).' },
  agreement: { unit: 'ratio', better: 'higher', description: 'Agreement with FP32 of the output model (after the fallback).' },
  sqnrDb: { unit: 'dB', better: 'higher', description: 'SQNR of the output model\'s logits.' },
  maxAbsError: { unit: 'number', better: 'lower', description: 'Largest absolute logit difference of the output model from FP32.' },
  accuracyDrop: { unit: 'ratio', better: 'lower', description: 'FP32 accuracy minus the output model\'s; null without labels.' },
};
