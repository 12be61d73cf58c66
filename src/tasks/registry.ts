// Every task's whole definition, by name (see task.ts's top comment): for bench, whose evaluations
// load onnxruntime-node anyway. The other steps import only their part's registry (data-registry.ts,
// head-registry.ts, triton-registry.ts): importing this one puts every task's evaluation and export
// head in a plugin's cache key, and the CPU kernel family with them (src/cache/fingerprint.ts).
// Sequence classification is the engine's original path: it has no entry and needs none.
import type { TaskDefinition, TaskName } from './task.ts';
import { embeddingTask } from './embedding/index.ts';
import { questionAnsweringTask } from './question-answering/index.ts';
import { tokenClassificationTask } from './token-classification/index.ts';
import { textGenerationTask } from './text-generation/index.ts';

export const TASKS: Partial<Record<TaskName, TaskDefinition>> = {
  embedding: embeddingTask,
  'question-answering': questionAnsweringTask,
  'token-classification': tokenClassificationTask,
  'text-generation': textGenerationTask,
};

export function taskDefinition(task: TaskName | undefined): TaskDefinition | undefined {
  return task ? TASKS[task] : undefined;
}
