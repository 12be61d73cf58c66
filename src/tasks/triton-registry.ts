// What the triton step adds for each task, by task name: plain data, so that triton's cache key
// holds neither the exporter nor bench's evaluations (onnxruntime-node, which would also key it on the
// CPU kernel family: src/cache/fingerprint.ts). The Python post-processors of question answering and
// token classification are plugins/triton/question-answering.ts and token-classification.ts.
import type { TaskName, TritonTaskParts } from './task.ts';

export const TASK_TRITON: Partial<Record<TaskName, TritonTaskParts>> = {
  // The ensemble returns the model's output as it is: [batch, hidden] floats, no labels.
  embedding: { labelsOnOutput: false },
  // No labels: the served output is the answer (plugins/triton/question-answering.ts builds the ensemble).
  'question-answering': { labelsOnOutput: false },
  // The tags are not classes of the whole text: no labels.txt on the logits. The served repository
  // (TEXT → entities) is plugins/triton/token-classification.ts.
  'token-classification': { labelsOnOutput: false },
  // No labels: the served output is the generated text (plugins/triton/text-generation.ts).
  'text-generation': { labelsOnOutput: false },
};

/** The task's Triton parts; undefined: sequence classification's (labels.txt on the output). */
export function tritonTaskParts(task: TaskName | undefined): TritonTaskParts | undefined {
  return task ? TASK_TRITON[task] : undefined;
}
