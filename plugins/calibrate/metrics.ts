// What the calibrate step reports (src/engine/plugin.ts MetricsDeclaration). Plain data, so the reports,
// the gate check and docs/recipe-reference.md read it without loading the plugin.
import type { MetricsDeclaration } from '../../src/engine/plugin.ts';

export const calibrateMetrics: MetricsDeclaration = {
  method: { type: 'text', role: 'calibration-method', description: 'The calibration method (with its percentile); "none" when the model has no activation to calibrate.' },
  autoChoices: { type: 'object', optional: true, description: 'method auto: how many tensors took each candidate method (minmax, percentile, entropy, mse); calibration.json says which one each tensor got.' },
  raisedByConsumerError: { unit: 'count', better: 'none', optional: true, description: "Tensors whose method threshold was raised to the threshold of least consumer-output error (cutting further only adds error to what the consuming node computes)." },
  data: { type: 'text', optional: true, description: 'The data set (or tensor file) calibrated on.' },
  samples: { unit: 'count', better: 'none', role: 'samples', description: 'Calibration samples run through the FP32 model.' },
  batches: { unit: 'count', better: 'none', optional: true, description: 'Batches those samples ran in.' },
  tensors: { unit: 'count', better: 'none', description: 'Activation tensors given a scale.' },
  shiftedTensors: { unit: 'count', better: 'none', optional: true, description: 'Tensors centred before quantization (option shift): per channel, the offset folded into the readers’ biases, or Softmax outputs at 0.5; calibration.json’s `shift` says which.' },
  scaledTensors: { unit: 'count', better: 'none', optional: true, description: 'Of the shifted tensors, those also scaled per channel (SmoothQuant-style, the readers’ weight rows multiplied back), where that lowers the readers’ expected output error.' },
  meanClippedRange: { unit: 'ratio', better: 'lower', optional: true, description: 'Mean share of each tensor’s observed |max| beyond its threshold (values there saturate).' },
  peakRssDeltaMiB: { unit: 'MiB', better: 'lower', optional: true, description: 'Growth of the process’s resident memory during calibration.' },
};
