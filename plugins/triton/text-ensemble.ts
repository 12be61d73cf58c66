// Raw text in, model outputs out, as transformer-deploy serves a transformer: a Python-backend
// tokenizer model (python/model.py + the model's tokenizer.json) and an ensemble that runs it and
// then the model, mapping the tokenizer's outputs onto the model's inputs by name.
//
//   <name>_tokenizer   backend "python"    TEXT (TYPE_STRING) → input_ids, attention_mask, token_type_ids
//   <name>_ensemble    platform "ensemble" TEXT → <name>_tokenizer → <name> → the model's outputs
//
// Batching: with max_batch_size M > 0 every member has M and TEXT has dims [ 1 ] (a request is
// [batch, 1] strings, one text per row); with M = 0, TEXT is [ -1 ] and the token tensors [ -1, -1 ].
import type { ModelConfig, TensorConfig } from './model-config.ts';

export const TEXT_INPUT = 'TEXT';

/** Tensors the tokenizer produces, by the names Hugging Face exports give the model's inputs. */
export const TOKEN_TENSORS = ['input_ids', 'attention_mask', 'token_type_ids'] as const;

export interface TokenizerSettings {
  /** Longest encoding, special tokens included (truncation keeps [SEP] last). */
  maxLength: number;
  padId: number;
}

/**
 * Why no text ensemble can be made for this model (e.g. a vision model, or an input the tokenizer
 * cannot fill), or undefined when it can.
 */
export function textEnsembleBlocker(model: ModelConfig): string | undefined {
  const tokenDims = model.maxBatchSize > 0 ? [-1] : [-1, -1];
  if (!model.input.some((i) => i.name === 'input_ids')) return `the model has no input_ids input (inputs: ${model.input.map((i) => i.name).join(', ')})`;
  for (const i of model.input) {
    if (!(TOKEN_TENSORS as readonly string[]).includes(i.name)) return `the tokenizer cannot fill the model input "${i.name}"`;
    if (i.dataType !== 'TYPE_INT64' && i.dataType !== 'TYPE_INT32') return `the model input "${i.name}" is ${i.dataType}, not an integer type`;
    if (i.reshape || i.dims.length !== tokenDims.length || i.dims.some((d) => d !== -1)) {
      return `the model input "${i.name}" has dims [ ${i.dims.join(', ')} ]; the tokenizer pads to the longest text, so it needs [ ${tokenDims.join(', ')} ]`;
    }
  }
  return undefined;
}

const textTensor = (maxBatchSize: number): TensorConfig => ({ name: TEXT_INPUT, dataType: 'TYPE_STRING', dims: maxBatchSize > 0 ? [1] : [-1] });

/** The tokenizer model: its outputs are exactly the model's inputs (names, types, dims). */
export function tokenizerConfig(name: string, model: ModelConfig, settings: TokenizerSettings, instances: number): ModelConfig {
  return {
    name,
    backend: 'python',
    maxBatchSize: model.maxBatchSize,
    input: [textTensor(model.maxBatchSize)],
    output: model.input.map((i) => ({ name: i.name, dataType: i.dataType, dims: [...i.dims] })),
    // Tokenization is CPU work; each request is tokenized on its own, so no dynamic batching.
    instanceGroup: [{ count: instances, kind: 'KIND_CPU' }],
    parameters: { max_length: String(settings.maxLength), pad_id: String(settings.padId) },
  };
}

/** The ensemble: TEXT → tokenizer → model; its outputs are the model's, labels file included. */
export function ensembleConfig(name: string, tokenizer: ModelConfig, model: ModelConfig): ModelConfig {
  const identity = (tensors: TensorConfig[]) => Object.fromEntries(tensors.map((t) => [t.name, t.name]));
  return {
    name,
    platform: 'ensemble',
    maxBatchSize: model.maxBatchSize,
    input: [textTensor(model.maxBatchSize)],
    // The composing model's config shapes (after any reshape) are what flows between steps.
    output: model.output.map(({ reshape: _reshape, ...o }) => ({ ...o, dims: [...o.dims] })),
    ensembleScheduling: {
      step: [
        { modelName: tokenizer.name, modelVersion: -1, inputMap: { [TEXT_INPUT]: TEXT_INPUT }, outputMap: identity(tokenizer.output) },
        { modelName: model.name, modelVersion: -1, inputMap: identity(model.input), outputMap: identity(model.output) },
      ],
    },
    instanceGroup: [],
  };
}
