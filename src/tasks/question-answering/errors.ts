// Question answering's own failures, in the form of src/errors.ts (a stable code, the file and line
// where known, a hint).
import { QrunError, EXIT } from '../../errors.ts';

export const qaErrors = {
  dataInvalid: (file: string, line: number, why: string) =>
    new QrunError([
      {
        code: 'QA_DATA_INVALID',
        message: `line ${line} ${why}`,
        hint: 'a question-answering data set is JSON lines like {"question": "…", "context": "…", "answers": {"text": ["…"], "answer_start": [17]}} (SQuAD\'s layout)',
        location: { file, line, col: 1 },
      },
    ], EXIT.stepFailed),
  answerNotInContext: (file: string, line: number, answer: string, start: number, found: string) =>
    new QrunError([
      {
        code: 'QA_ANSWER_NOT_IN_CONTEXT',
        message: `line ${line}: the answer "${answer.slice(0, 60)}" is not at answer_start ${start} of the context (found "${found.slice(0, 60)}")`,
        hint: 'answer_start counts characters of the context from 0, as SQuAD does; fix the offset or the text',
        location: { file, line, col: 1 },
      },
    ], EXIT.stepFailed),
  noContext: (what: string) =>
    new QrunError([
      {
        code: 'QA_DATA_NOT_TOKENIZED',
        message: `${what} has no question-answering samples (question + context pairs with offsets)`,
        hint: 'read the evaluation set with hf.load for a question-answering model (task: question-answering, or a *ForQuestionAnswering checkpoint)',
      },
    ]),
  outputsMissing: (which: string, names: readonly string[]) =>
    new QrunError([
      {
        code: 'QA_OUTPUTS_MISSING',
        message: `${which} has no start_logits/end_logits outputs (outputs: ${names.join(', ')})`,
        hint: 'export the model with its question-answering head (onnx.export of a *ForQuestionAnswering checkpoint, or optimum-cli export onnx --task question-answering)',
      },
    ]),
};
