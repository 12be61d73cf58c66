// How hf.load reads each task's data sets, by task name: the `readData` of the task's definition,
// imported from the task's data module alone. hf.load imports this, not registry.ts: a plugin's
// cache key holds its whole import closure (src/cache/code-closure.ts, dynamic imports too), and
// registry.ts reaches the exporter's heads and bench's evaluations (onnxruntime-node), which would
// re-run hf.load when the exporter changes and key it on the CPU kernel family (src/cache/fingerprint.ts).
// A data module imports no onnxruntime-node and nothing of src/export (registries.test.ts checks).
import type { TaskDefinition, TaskName } from './task.ts';
import { tokenizeEmbeddingData } from './embedding/data.ts';
import { tokenizeQaData } from './question-answering/data.ts';
import { tokenizeTokenClassificationData } from './token-classification/data.ts';
import { tokenizeGenerationData } from './text-generation/data.ts';

export type TaskDataReader = NonNullable<TaskDefinition['readData']>;

export const TASK_DATA: Partial<Record<TaskName, TaskDataReader>> = {
  embedding: tokenizeEmbeddingData,
  'question-answering': tokenizeQaData,
  'token-classification': tokenizeTokenClassificationData,
  'text-generation': tokenizeGenerationData,
};

/** The task's own data reader; undefined: {"text", "label"} lines. */
export function taskDataReader(task: TaskName | undefined): TaskDataReader | undefined {
  return task ? TASK_DATA[task] : undefined;
}
