// What the onnx.export step reports (src/engine/plugin.ts MetricsDeclaration). Plain data, so the reports,
// the gate check and docs/recipe-reference.md read it without loading the plugin.
import type { MetricsDeclaration } from '../../src/engine/plugin.ts';

export const onnxExportMetrics: MetricsDeclaration = {
  modelType: { type: 'text', description: 'config.json\'s model_type.' },
  family: { type: 'text', description: 'The encoder family the exporter built (bert, roberta, distilbert, electra).' },
  task: { type: 'text', description: 'The head exported (sequence classification, …).' },
  taskFrom: { type: 'text', description: 'What decided the task: the recipe, a sentence-transformers folder, or config.json\'s architectures.' },
  head: { type: 'text', description: 'A task\'s own head, when it has one (embedding: the pooling and normalisation); null for the family\'s head.' },
  weights: { type: 'text', description: '"checkpoint", or "random (seed N)".' },
  layers: { unit: 'count', better: 'none', description: 'Transformer layers.' },
  hidden: { unit: 'count', better: 'none', description: 'Hidden size.' },
  heads: { unit: 'count', better: 'none', description: 'Attention heads.' },
  parameters: { unit: 'count', better: 'none', description: 'Weights in the exported graph.' },
  opset: { unit: 'number', better: 'none', description: 'The ONNX opset of the graph.' },
  nodes: { unit: 'count', better: 'none', description: 'Nodes in the graph.' },
  inputs: { type: 'list', description: 'The graph\'s input names.' },
  outputs: { type: 'list', description: 'The graph\'s output names.' },
  bytes: { unit: 'bytes', better: 'none', description: 'Size of the model file and its external data.' },
  externalData: { type: 'text', description: 'The external data file (models over 2 GiB); null when the weights are inside the model.' },
};
