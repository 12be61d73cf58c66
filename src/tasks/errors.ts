// Failures of task detection and of a task's own steps, in the form of src/errors.ts (a QrunError
// with a stable code and a hint). Kept beside the tasks so T2/T3 add theirs here, not in the
// shared src/errors.ts.
import { QrunError, EXIT } from '../errors.ts';

const make = (code: string, message: string, hint: string, exitCode: number = EXIT.stepFailed) => new QrunError([{ code, message, hint }], exitCode);

export const taskErrors = {
  /** Nothing says what the model is for: a bare checkpoint (BertModel, no architectures) with no `task:`. */
  unknown: (where: string, architectures: string[]) =>
    make(
      'TASK_UNKNOWN',
      `${where}: cannot tell the model's task: config.json's architectures ${architectures.length ? `(${architectures.join(', ')})` : '(none)'} name no head, and there is no sentence-transformers modules.json`,
      'name it in the recipe: `task: embedding` (or sequence-classification, question-answering, token-classification) at the top level, or `with: { task: … }` on hf.load / onnx.export',
      EXIT.usage,
    ),
  notAvailable: (task: string, what: string) =>
    make('TASK_NOT_SUPPORTED', `task "${task}" has no ${what} in qrun yet`, 'see the task table in README.md for what each task supports'),
  /** An embedding model whose graph returns token states, not one vector per text. */
  noSentenceEmbedding: (outputs: string[], dims: readonly number[]) =>
    make(
      'EMBEDDING_OUTPUT',
      `the model has no sentence_embedding output, and its output "${outputs[0]}" has shape [${dims.join(', ')}], not [batch, dimension] (outputs: ${outputs.join(', ')})`,
      'an ONNX file exported for sentence-transformers\' ONNX backend (feature-extraction) leaves the pooling to Python: add an `onnx.export` step after hf.load, which builds the pooling and normalisation into the graph',
    ),
  layoutInvalid: (file: string, message: string) =>
    make('SENTENCE_TRANSFORMERS_LAYOUT', `${file}: ${message}`, 'the folder should be what SentenceTransformer.save writes: modules.json, config.json + model.safetensors, 1_Pooling/config.json, optionally 2_Normalize'),
};
