// What the triton step reports (src/engine/plugin.ts MetricsDeclaration). Plain data, so the reports,
// the gate check and docs/recipe-reference.md read it without loading the plugin.
import type { MetricsDeclaration } from '../../src/engine/plugin.ts';

export const tritonMetrics: MetricsDeclaration = {
  models: { type: 'list', description: 'Model folders written (onnxruntime, TensorRT, the text ensemble).' },
  configs: { type: 'list', description: 'Their config.pbtxt files.' },
  maxBatchSize: { unit: 'count', better: 'none', description: 'max_batch_size written to the configs.' },
  textModel: { type: 'text', description: 'The text-in ensemble model; null when none was written.' },
  noTextModel: { type: 'text', optional: true, description: 'Why no text model was written.' },
};
