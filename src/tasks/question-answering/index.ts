// Extractive question answering (*ForQuestionAnswering checkpoints): the model scores each token
// as the answer's start and end (start_logits, end_logits); the answer is the best valid span of
// the context, as transformers' question-answering pipeline picks it. Judged INT8 against FP32's
// answers and against gold with SQuAD's exact match and F1; served by Triton with the answer text
// and its character span.
import type { TaskDefinition } from '../task.ts';
import { tokenizeQaData } from './data.ts';
import { evaluateQuestionAnswering } from './evaluate.ts';
import { questionAnsweringExportHead } from './head.ts';

export const questionAnsweringTask: TaskDefinition = {
  name: 'question-answering',
  summary: 'extractive question answering: start/end logits over question + context, the answer span as text',
  exportHead: questionAnsweringExportHead,
  readData: tokenizeQaData,
  evaluate: evaluateQuestionAnswering,
};
