// The Triton models that serve extractive question answering: a client sends a question and its
// context as strings and gets the answer back as text with its character span, as transformer-deploy
// serves QA (Python-backend pre- and post-processing around the model).
//
//   <name>_tokenizer   backend "python" (role tokenizer)  QUESTION, CONTEXT → input_ids, attention_mask, token_type_ids
//   <name>             onnxruntime                          → start_logits, end_logits
//   <name>_answer      backend "python" (role answer)     QUESTION, CONTEXT, start_logits, end_logits → ANSWER
//   <name>_ensemble    platform "ensemble"                  QUESTION, CONTEXT → ANSWER
//
// ANSWER is one JSON string per pair: {"answer", "score", "start", "end"}. Both Python models are
// python/question_answering.py with the model's tokenizer.json beside it; they encode the pair the
// same way (question first, only the context truncated to max_length), so the answer model's
// offsets belong to the tokens the logits were computed on.
import { fileURLToPath } from 'node:url';
import type { ModelConfig, TensorConfig } from './model-config.ts';
import type { TokenizerSettings } from './text-ensemble.ts';
// Plain data: not evaluate.ts (onnxruntime) nor the exporter, which would enter triton's cache key.
import { MAX_ANSWER_TOKENS, QA_END_OUTPUT, QA_START_OUTPUT } from '../../src/tasks/question-answering/outputs.ts';

export const QA_MODEL_PY = fileURLToPath(new URL('./python/question_answering.py', import.meta.url));
export const QUESTION_INPUT = 'QUESTION';
export const CONTEXT_INPUT = 'CONTEXT';
export const ANSWER_OUTPUT = 'ANSWER';

const strings = (name: string, maxBatchSize: number): TensorConfig => ({ name, dataType: 'TYPE_STRING', dims: maxBatchSize > 0 ? [1] : [-1] });

/** Why the model cannot be served as QA (its outputs), or undefined. */
export function qaEnsembleBlocker(model: ModelConfig): string | undefined {
  for (const name of [QA_START_OUTPUT, QA_END_OUTPUT]) {
    const o = model.output.find((t) => t.name === name);
    if (!o) return `the model has no ${name} output (outputs: ${model.output.map((t) => t.name).join(', ')})`;
    if (o.dataType !== 'TYPE_FP32') return `the model output ${name} is ${o.dataType}, not TYPE_FP32`;
  }
  return undefined;
}

export interface QaEnsemble {
  tokenizer: ModelConfig;
  answer: ModelConfig;
  ensemble: ModelConfig;
}

export function qaEnsembleConfigs(name: string, model: ModelConfig, settings: TokenizerSettings, instances: number, maxAnswerTokens = MAX_ANSWER_TOKENS): QaEnsemble {
  const m = model.maxBatchSize;
  const pair = [strings(QUESTION_INPUT, m), strings(CONTEXT_INPUT, m)];
  const spanLogits = model.output.filter((o) => o.name === QA_START_OUTPUT || o.name === QA_END_OUTPUT).map(({ reshape: _r, labelFilename: _l, ...o }) => ({ ...o, dims: [...o.dims] }));
  const tokenizer: ModelConfig = {
    name: `${name}_tokenizer`,
    backend: 'python',
    maxBatchSize: m,
    input: pair,
    output: model.input.map((i) => ({ name: i.name, dataType: i.dataType, dims: [...i.dims] })),
    instanceGroup: [{ count: instances, kind: 'KIND_CPU' }],
    parameters: { role: 'tokenizer', max_length: String(settings.maxLength), pad_id: String(settings.padId) },
  };
  const answer: ModelConfig = {
    name: `${name}_answer`,
    backend: 'python',
    maxBatchSize: m,
    input: [...pair, ...spanLogits],
    output: [strings(ANSWER_OUTPUT, m)],
    instanceGroup: [{ count: instances, kind: 'KIND_CPU' }],
    parameters: { role: 'answer', max_length: String(settings.maxLength), max_answer_len: String(maxAnswerTokens) },
  };
  const identity = (tensors: TensorConfig[]) => Object.fromEntries(tensors.map((t) => [t.name, t.name]));
  const ensemble: ModelConfig = {
    name: `${name}_ensemble`,
    platform: 'ensemble',
    maxBatchSize: m,
    input: pair,
    output: [strings(ANSWER_OUTPUT, m)],
    ensembleScheduling: {
      step: [
        { modelName: tokenizer.name, modelVersion: -1, inputMap: identity(pair), outputMap: identity(tokenizer.output) },
        { modelName: model.name, modelVersion: -1, inputMap: identity(model.input), outputMap: identity(spanLogits) },
        { modelName: answer.name, modelVersion: -1, inputMap: identity(answer.input), outputMap: identity(answer.output) },
      ],
    },
    instanceGroup: [],
  };
  return { tokenizer, answer, ensemble };
}
