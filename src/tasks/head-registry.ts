// The head onnx.export puts on the encoder, by task name: the `exportHead` of the task's definition,
// imported from the task's head module alone. onnx.export imports this, not registry.ts, whose
// evaluations load onnxruntime-node: that would put the CPU kernel family in onnx.export's cache key
// (src/cache/fingerprint.ts), though the export computes nothing with onnxruntime. A head module
// reaches src/export (the exporter's own code) and plain data, never onnxruntime-node (registries.test.ts).
import type { TaskDefinition, TaskName } from './task.ts';
import { embeddingExportHead } from './embedding/head.ts';
import { questionAnsweringExportHead } from './question-answering/head.ts';

export type TaskExportHead = NonNullable<TaskDefinition['exportHead']>;

// Token classification has none: each family's own `classifier` on every token (src/export/encoder-parts.ts).
export const TASK_HEADS: Partial<Record<TaskName, TaskExportHead>> = {
  embedding: embeddingExportHead,
  'question-answering': questionAnsweringExportHead,
};

/** The task's head; undefined: the family's own head. */
export function taskExportHead(task: TaskName | undefined): TaskExportHead | undefined {
  return task ? TASK_HEADS[task] : undefined;
}
