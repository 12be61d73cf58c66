// What the onnx.save step reports (src/engine/plugin.ts MetricsDeclaration). Plain data, so the reports,
// the gate check and docs/recipe-reference.md read it without loading the plugin.
import type { MetricsDeclaration } from '../../src/engine/plugin.ts';

export const onnxSaveMetrics: MetricsDeclaration = {
  bytes: { unit: 'bytes', better: 'lower', description: 'Size of the saved model file.' },
  sha256: { type: 'text', description: 'SHA-256 of the saved model file.' },
  externalDataBytes: { unit: 'bytes', better: 'none', optional: true, description: 'Size of the external data file, when there is one.' },
  externalTensors: { unit: 'count', better: 'none', optional: true, description: 'Tensors stored in the external data file.' },
  nodes: { unit: 'count', better: 'none', description: 'Nodes in the saved graph.' },
  ops: { type: 'object', description: 'Node count per operator type.' },
};
