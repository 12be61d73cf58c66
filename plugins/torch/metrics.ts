// What the torch steps report (src/engine/plugin.ts MetricsDeclaration): the worker's return values
// (plugins/torch/worker/qrun_worker/methods.py), which every step ends with the package versions.
import type { MetricsDeclaration } from '../../src/engine/plugin.ts';

const versions: MetricsDeclaration = {
  torch: { type: 'text', description: 'The PyTorch version the worker ran.' },
  transformers: { type: 'text', description: 'The transformers version the worker ran.' },
  worker: { type: 'text', description: 'The worker protocol version.' },
};

export const torchLoadMetrics: MetricsDeclaration = {
  architecture: { type: 'text', description: 'The transformers class the model was built with.' },
  modelingModule: { type: 'text', description: 'The Python module of its modeling code (what torch.patch rewrites).' },
  parameters: { unit: 'count', better: 'none', description: 'Parameters of the model.' },
  outputShape: { type: 'list', description: 'Shape of the logits for a 1×4 probe input.' },
  ...versions,
};

export const torchPatchMetrics: MetricsDeclaration = {
  rules: { type: 'object', description: 'Each AST rule: "applied: …" or "not applied: why".' },
  quantizers: { unit: 'count', better: 'none', description: 'Fake quantizers inserted.' },
  linearQuantizers: { unit: 'count', better: 'none', description: 'Quantizers on Linear layers (input and weight).' },
  matmulQuantizers: { unit: 'count', better: 'none', description: 'Quantizers on attention matmuls.' },
  excluded: { unit: 'count', better: 'none', description: 'Quantizers disabled by `exclude`.' },
  restored: { type: 'flag', description: 'Whether the original modeling source was restored after patching.' },
  ...versions,
};

export const torchCalibrateMetrics: MetricsDeclaration = {
  method: { type: 'text', role: 'calibration-method', description: 'The calibration method (with its percentile).' },
  samples: { unit: 'count', better: 'none', role: 'samples', description: 'Calibration samples.' },
  batches: { unit: 'count', better: 'none', description: 'Batches those samples ran in.' },
  activationQuantizers: { unit: 'count', better: 'none', description: 'Activation quantizers calibrated.' },
  unreached: { type: 'list', description: 'Quantizers no calibration sample reached (left uncalibrated).' },
  meanClippedRange: { unit: 'ratio', better: 'lower', description: 'Mean share of each activation’s observed |max| beyond its amax.' },
  device: { type: 'text', description: 'The torch device calibration ran on.' },
  calibrationAgreement: { unit: 'ratio', better: 'higher', description: 'Agreement with FP32 of the fake-quantized model on the calibration set.' },
  calibrationMaxAbsError: { unit: 'number', better: 'lower', description: 'Largest absolute logit difference from FP32 on the calibration set.' },
  ...versions,
};

export const torchQatMetrics: MetricsDeclaration = {
  samples: { unit: 'count', better: 'none', description: 'Training samples.' },
  epochs: { unit: 'count', better: 'none', description: 'Epochs trained.' },
  steps: { unit: 'count', better: 'none', description: 'Optimizer steps taken.' },
  epochLoss: { type: 'list', description: 'Mean training loss of each epoch.' },
  device: { type: 'text', description: 'The torch device trained on.' },
  trainSeconds: { unit: 's', better: 'lower', description: 'Training wall time.' },
  checkAgreementBefore: { unit: 'ratio', better: 'higher', optional: true, description: 'Agreement with FP32 on `checkData` before QAT.' },
  checkAgreementAfter: { unit: 'ratio', better: 'higher', optional: true, description: 'Agreement with FP32 on `checkData` after QAT.' },
  checkAccuracyBefore: { unit: 'ratio', better: 'higher', optional: true, description: 'Label accuracy on `checkData` before QAT.' },
  checkAccuracyAfter: { unit: 'ratio', better: 'higher', optional: true, description: 'Label accuracy on `checkData` after QAT.' },
  ...versions,
};

export const torchExportMetrics: MetricsDeclaration = {
  opset: { unit: 'number', better: 'none', description: 'The ONNX opset exported.' },
  bytes: { unit: 'bytes', better: 'lower', description: 'Size of the exported model file.' },
  nodes: { unit: 'count', better: 'none', description: 'Nodes in the exported graph.' },
  quantizedNodes: { unit: 'count', better: 'none', description: 'MatMul/Gemm nodes that read DequantizeLinear inputs.' },
  weightTensors: { unit: 'count', better: 'none', description: 'Quantized weight tensors.' },
  activationScales: { unit: 'count', better: 'none', description: 'Activation scales in the graph.' },
  scalesMatchAmax: { type: 'flag', description: 'Whether every exported scale equals the calibrated amax/127 (the export fails otherwise).' },
  ops: { type: 'object', description: 'Node count per operator type.' },
  weights: { unit: 'count', better: 'none', description: 'Weights stored as INT8 initializers.' },
  weightTransposesFolded: { unit: 'count', better: 'none', description: 'Weight Transposes folded into the INT8 initializers.' },
  activationPairs: { unit: 'count', better: 'none', description: 'Activation Q/DQ pairs.' },
  pairsSplit: { unit: 'count', better: 'none', description: 'Q/DQ pairs split to one per consumer (TensorRT’s explicit-quantization rule).' },
  ortArgmaxAgreement: { unit: 'ratio', better: 'higher', optional: true, description: 'Agreement of onnxruntime’s predictions with torch’s on `verifyData`.' },
  ortMaxAbsDiff: { unit: 'number', better: 'lower', optional: true, description: 'Largest absolute logit difference between onnxruntime and torch.' },
  ...versions,
};
