// What the hf.load step reports (src/engine/plugin.ts MetricsDeclaration). Plain data, so the reports,
// the gate check and docs/recipe-reference.md read it without loading the plugin.
import type { MetricsDeclaration } from '../../src/engine/plugin.ts';

export const hfLoadMetrics: MetricsDeclaration = {
  modelType: { type: 'text', description: 'config.json\'s model_type.' },
  task: { type: 'text', description: 'What the model is for (src/tasks/task.ts), written to hf/task.json; null when nothing says (a bare checkpoint with no `task:`).' },
  taskFrom: { type: 'text', description: 'What decided the task: the recipe, a sentence-transformers folder, or config.json\'s architectures.' },
  hubId: { type: 'text', optional: true, description: 'The hub id, for a model named by one.' },
  revision: { type: 'text', optional: true, description: 'The hub commit the model was read at.' },
  labels: { unit: 'count', better: 'none', description: 'Classes the model predicts (id2label, or num_labels).' },
  onnx: { type: 'text', description: 'The ONNX file found in the model folder; null when there is none.' },
  irVersion: { unit: 'number', better: 'none', optional: true, description: 'The ONNX file\'s IR version.' },
  opset: { unit: 'number', better: 'none', optional: true, description: 'The ONNX file\'s default-domain opset.' },
  nodes: { unit: 'count', better: 'none', optional: true, description: 'Nodes in the ONNX graph.' },
  opTypes: { unit: 'count', better: 'none', optional: true, description: 'Distinct operator types in the graph.' },
  inputs: { type: 'list', optional: true, description: 'The graph\'s input names.' },
  outputs: { type: 'list', optional: true, description: 'The graph\'s output names.' },
  missingOutputs: { type: 'object', optional: true, description: 'Outputs not written and why (no ONNX file: add an onnx.export step).' },
  samples: { type: 'object', description: 'Samples per tokenized data set, by data set name.' },
  maxLength: { unit: 'count', better: 'none', description: 'The tokenizer\'s maximum sequence length in tokens; null without a tokenizer.' },
  tensorData: { type: 'list', description: 'Data sets given as tensor files (read by the steps that use them, not tokenized here).' },
};
