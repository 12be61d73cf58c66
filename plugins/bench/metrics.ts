// What the bench step reports (src/engine/plugin.ts MetricsDeclaration). The roles are how the
// report, compare and the matrix find the task's numbers without knowing this plugin's name.
import type { MetricsDeclaration } from '../../src/engine/plugin.ts';
import { TASK_METRICS } from '../../src/tasks/metrics.ts';
import { taskMetricsKey, type TaskName } from '../../src/tasks/task.ts';

function latencySummary(model: string): MetricsDeclaration {
  return {
    p50: { unit: 'ms', better: 'lower', description: `${model} median latency.` },
    p90: { unit: 'ms', better: 'lower', description: `${model} 90th percentile.` },
    p99: { unit: 'ms', better: 'lower', description: `${model} 99th percentile.` },
    mean: { unit: 'ms', better: 'lower', description: `${model} mean latency.` },
  };
}

function intervalFields(of: string, better: 'higher' | 'lower'): MetricsDeclaration {
  return {
    low: { unit: '×', better, description: `Lower end of the ${of}’s interval.` },
    high: { unit: '×', better, description: `Upper end of the ${of}’s interval.` },
    confidence: { unit: 'ratio', better: 'none', description: 'Share of the bootstrap distribution between low and high (0.95).' },
  };
}

export const benchMetrics: MetricsDeclaration = {
  logitsOutput: { type: 'text', description: 'The graph output scored as the logits (by name and shape, or the `output` option); for a task with its own evaluation, the output it read (sentence_embedding).' },
  candidate: { type: 'text', optional: true, description: 'What the reports call the quantized model, read from its graph: INT4 for 4-bit weight-only forms (MatMulNBits bits 4, int4 DequantizeLinear weights), otherwise INT8.' },
  agreement: {
    unit: 'ratio',
    better: 'higher',
    role: 'agreement',
    description: 'Share of evaluation samples whose top class is the same for the INT8 and the FP32 model; for another task its agreement with FP32 (embedding: recall@10 of nearest neighbours).',
  },
  fp32Accuracy: { unit: 'ratio', better: 'higher', role: 'reference-accuracy', description: 'FP32 label accuracy (embedding: paraphrase retrieval accuracy); null when the evaluation set has no labels.' },
  int8Accuracy: { unit: 'ratio', better: 'higher', role: 'accuracy', description: 'INT8 label accuracy (embedding: paraphrase retrieval accuracy); null when the evaluation set has no labels.' },
  accuracyDrop: { unit: 'ratio', better: 'lower', role: 'accuracy-drop', description: 'FP32 accuracy minus INT8 accuracy (0.01 = one point lost); null without labels.' },
  maxAbsError: { unit: 'number', better: 'lower', role: 'max-abs-error', description: 'Largest absolute difference between an INT8 and the FP32 logit, over every sample and class.' },
  meanCosine: { unit: 'number', better: 'higher', role: 'mean-cosine', description: 'Mean cosine similarity of the INT8 and FP32 logit vectors (1 = same direction).' },
  minCosine: { unit: 'number', better: 'higher', role: 'min-cosine', description: 'Smallest cosine similarity of a sample’s INT8 and FP32 logits.' },
  perClass: {
    type: 'table',
    role: 'per-class',
    optional: true,
    description: 'Per class: samples, FP32 and INT8 recall, samples FP32 predicts as the class and how many of those INT8 flips to another.',
  },
  confusion: {
    type: 'object',
    role: 'confusion',
    optional: true,
    description: 'Confusion matrices (FP32 vs labels, INT8 vs labels, INT8 vs FP32), up to 50 classes.',
  },
  task: { type: 'text', optional: true, description: 'The task scored by its own evaluation (hf.load\'s task.json); absent for classification.' },
  // Each task's own numbers, under its name: bench.embedding.recallAt10.
  ...Object.fromEntries(
    Object.entries(TASK_METRICS).map(([task, fields]) => [
      taskMetricsKey(task as TaskName),
      { type: 'object' as const, optional: true, description: `The ${task} task's evaluation of INT8 against FP32 (and gold), when the model is one.`, fields },
    ]),
  ),
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
    description: 'Per benchmarked shape (batch × sequence): FP32 and INT8 p50/p90/p99/mean latency in ms, the INT8/FP32 ratio with its 95% interval, and the speed-up. A gate names a row by its index in `shapes`: bench.latency.0.speedup.',
    fields: {
      batch: { unit: 'count', better: 'none', description: 'Batch size of the shape.' },
      sequence: { unit: 'count', better: 'none', description: 'Sequence length of the shape, in tokens.' },
      fp32: { type: 'object', description: 'FP32 latency over every timed run.', fields: latencySummary('FP32') },
      int8: { type: 'object', description: 'INT8 latency over every timed run.', fields: latencySummary('INT8') },
      ratio: { unit: '×', better: 'lower', description: 'INT8 ÷ FP32 time: the median over interleaved pairs (below 1 is faster).' },
      ratioInterval: { type: 'object', optional: true, description: '95% block-bootstrap interval of the ratio.', fields: intervalFields('ratio', 'lower') },
      pairRatios: { type: 'list', optional: true, description: 'Each timing block’s pair ratios, the samples behind the ratio and its interval.' },
      speedup: { unit: '×', better: 'higher', description: 'FP32 ÷ INT8 (1 / ratio).' },
    },
  },
  speedup: { unit: '×', better: 'higher', role: 'speedup', description: 'Geometric mean over the shapes of FP32 ÷ INT8 median latency (onnxruntime on CPU).' },
  speedupInterval: {
    type: 'object',
    role: 'speedup-interval',
    optional: true,
    description: 'The 95% bootstrap interval of the speed-up; absent with a single timing block.',
    fields: intervalFields('speed-up', 'higher'),
  },
};
