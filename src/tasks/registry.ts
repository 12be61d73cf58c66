// Every task's definition, by name. A task plugs in with one line here (see task.ts's top comment).
// Sequence classification is the engine's original path: it has no entry and needs none.
import type { TaskDefinition, TaskName } from './task.ts';
import { embeddingTask } from './embedding/index.ts';
import { questionAnsweringTask } from './question-answering/index.ts';
import { tokenClassificationTask } from './token-classification/index.ts';

export const TASKS: Partial<Record<TaskName, TaskDefinition>> = {
  embedding: embeddingTask,
  'question-answering': questionAnsweringTask,
  'token-classification': tokenClassificationTask,
};

export function taskDefinition(task: TaskName | undefined): TaskDefinition | undefined {
  return task ? TASKS[task] : undefined;
}
