// What the exporter, bench and the Triton repository agree on for question answering, as plain data:
// the model's output names and the longest answer. Its own module so that triton can import it
// without reaching the exporter (src/export) or bench's evaluation (onnxruntime-node): each plugin's
// cache key holds the code it imports (src/cache/code-closure.ts), and a step that loads
// onnxruntime also carries the CPU kernel family (src/cache/fingerprint.ts).

/** The names and shapes ([batch, sequence]) optimum's question-answering ONNX export gives. */
export const QA_START_OUTPUT = 'start_logits';
export const QA_END_OUTPUT = 'end_logits';

/** Longest answer in tokens. transformers' pipeline defaults to 15; 30 leaves room for answers of a sentence. */
export const MAX_ANSWER_TOKENS = 30;
