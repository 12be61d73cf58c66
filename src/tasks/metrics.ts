// Each task's metric declarations, as plain data: bench's declaration (plugins/bench/metrics.ts)
// nests them under `taskMetricsKey(task)`, so gates (bench.embedding.recallAt10) are checked before
// anything runs. A task with an `evaluate` adds its line here.
import type { MetricsDeclaration } from '../engine/plugin.ts';
import type { TaskName } from './task.ts';
import { embeddingMetrics } from './embedding/metrics.ts';
import { questionAnsweringMetrics } from './question-answering/metrics.ts';
import { tokenClassificationMetrics } from './token-classification/metrics.ts';

export const TASK_METRICS: Partial<Record<TaskName, MetricsDeclaration>> = {
  embedding: embeddingMetrics,
  'question-answering': questionAnsweringMetrics,
  'token-classification': tokenClassificationMetrics,
};
