// What the bench step reports (src/engine/plugin.ts MetricsDeclaration). The roles are how the
// report, compare and the matrix find the task's numbers without knowing this plugin's name.
import type { MetricsDeclaration } from '../../src/engine/plugin.ts';

export const benchMetrics: MetricsDeclaration = {
  logitsOutput: { type: 'text', description: 'The graph output scored as the logits (by name and shape, or the `output` option).' },
  agreement: { unit: 'ratio', better: 'higher', role: 'agreement', description: 'Share of evaluation samples whose top class is the same for the INT8 and the FP32 model.' },
  fp32Accuracy: { unit: 'ratio', better: 'higher', role: 'reference-accuracy', description: 'FP32 label accuracy; null when the evaluation set has no labels.' },
  int8Accuracy: { unit: 'ratio', better: 'higher', role: 'accuracy', description: 'INT8 label accuracy; null when the evaluation set has no labels.' },
  accuracyDrop: { unit: 'ratio', better: 'lower', role: 'accuracy-drop', description: 'FP32 accuracy minus INT8 accuracy (0.01 = one point lost); null without labels.' },
  maxAbsError: { unit: 'number', better: 'lower', role: 'max-abs-error', description: 'Largest absolute difference between an INT8 and the FP32 logit, over every sample and class.' },
  meanCosine: { unit: 'number', better: 'higher', role: 'mean-cosine', description: 'Mean cosine similarity of the INT8 and FP32 logit vectors (1 = same direction).' },
  minCosine: { unit: 'number', better: 'higher', role: 'min-cosine', description: 'Smallest cosine similarity of a sample’s INT8 and FP32 logits.' },
  perClass: {
    type: 'table',
    role: 'per-class',
    description: 'Per class: samples, FP32 and INT8 recall, samples FP32 predicts as the class and how many of those INT8 flips to another.',
  },
  confusion: {
    type: 'object',
    role: 'confusion',
    optional: true,
    description: 'Confusion matrices (FP32 vs labels, INT8 vs labels, INT8 vs FP32), up to 50 classes.',
  },
  sizeRatio: { unit: '×', better: 'lower', role: 'size-ratio', description: 'INT8 model file size ÷ FP32 model file size.' },
  sizes: {
    type: 'object',
    role: 'sizes',
    description: 'Model file sizes.',
    fields: {
      fp32: { unit: 'bytes', better: 'none', description: 'The FP32 model file.' },
      int8: { unit: 'bytes', better: 'lower', description: 'The INT8 model file.' },
    },
  },
  latency: {
    type: 'table',
    role: 'latency',
    description: 'Per benchmarked shape (batch × sequence): FP32 and INT8 p50/p90/p99/mean latency in ms, the INT8/FP32 ratio with its 95% interval, and the speed-up.',
  },
  speedup: { unit: '×', better: 'higher', role: 'speedup', description: 'Geometric mean over the shapes of FP32 ÷ INT8 median latency (onnxruntime on CPU).' },
  speedupInterval: {
    type: 'object',
    role: 'speedup-interval',
    optional: true,
    description: 'The 95% bootstrap interval of the speed-up; absent with a single timing block.',
    fields: {
      low: { unit: '×', better: 'higher', description: 'Lower end of the interval.' },
      high: { unit: '×', better: 'higher', description: 'Upper end of the interval.' },
      confidence: { unit: 'ratio', better: 'none', description: 'Share of the bootstrap distribution between low and high (0.95).' },
    },
  },
};
