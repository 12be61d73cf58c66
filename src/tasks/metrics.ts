// Each task's metric declarations, as plain data: bench's declaration (plugins/bench/metrics.ts)
// nests them under `taskMetricsKey(task)`, so gates (bench.embedding.recallAt10) are checked before
// anything runs. A task with an `evaluate` adds its line here.
import type { MetricsDeclaration } from '../engine/plugin.ts';
import type { TaskName } from './task.ts';
import { embeddingMetrics } from './embedding/metrics.ts';
import { questionAnsweringMetrics } from './question-answering/metrics.ts';
import { tokenClassificationMetrics } from './token-classification/metrics.ts';
import { textGenerationMetrics } from './text-generation/metrics.ts';

export const TASK_METRICS: Partial<Record<TaskName, MetricsDeclaration>> = {
  embedding: embeddingMetrics,
  'question-answering': questionAnsweringMetrics,
  'token-classification': tokenClassificationMetrics,
  'text-generation': textGenerationMetrics,
};

/**
 * What the FP32-vs-INT8 summary (src/report/summary.ts) calls the headline numbers of a task that
 * fills them with its own measures; classification's words are the default. One line per task.
 */
export interface TaskSummaryLabels {
  /** fp32Accuracy / int8Accuracy: the score against gold. */
  accuracy: string;
  /** agreement: the agreement with FP32. */
  agreement: string;
  /** maxAbsError · meanCosine. */
  error: string;
  /**
   * More of the task's own numbers (bench.<task>.<metric>), each a row of INT8 against FP32: with
   * `fp32Metric`, FP32's own value in its column, and `changeMetric` a relative change (+1.23%).
   */
  extra?: { label: string; metric: string; format: 'ratio' | 'number'; fp32Metric?: string; changeMetric?: string; digits?: number }[];
}

export const TASK_SUMMARY_LABELS: Partial<Record<TaskName, TaskSummaryLabels>> = {
  embedding: {
    accuracy: 'paraphrase retrieval',
    agreement: 'recall@10 vs FP32',
    error: 'max |Δ| · cosine',
    extra: [
      { label: 'min cosine to FP32', metric: 'minCosine', format: 'number' },
      { label: 'Spearman of similarities', metric: 'spearman', format: 'number' },
    ],
  },
  // No gold to score: perplexity on the held-out texts is the quality row; the latency rows are
  // time to first token and tokens/s (src/tasks/text-generation/evaluate.ts).
  'text-generation': {
    accuracy: '',
    agreement: 'generated tokens = FP32',
    error: 'max |Δ logit| · cosine',
    extra: [
      { label: 'perplexity', metric: 'int8Perplexity', fp32Metric: 'fp32Perplexity', changeMetric: 'perplexityIncrease', format: 'number', digits: 3 },
      { label: 'continuations = FP32', metric: 'exactMatch', format: 'ratio' },
    ],
  },
};
