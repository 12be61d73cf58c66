// The Triton models that serve token classification (NER): a client sends text and gets the entities
// back with their words and character offsets, as transformer-deploy serves token classification
// (Python-backend post-processing after the model).
//
//   <name>_tokenizer   backend "python"     TEXT → input_ids, attention_mask, token_type_ids (text-ensemble.ts)
//   <name>             onnxruntime          → logits [batch, tokens, tags]
//   <name>_entities    backend "python"     TEXT, logits → ENTITIES
//   <name>_ensemble    platform "ensemble"  TEXT → ENTITIES
//
// ENTITIES is one JSON string per text: a list of {"entity_group", "score", "word", "start", "end",
// "words"} (python/token_classification.py says how they are made). The entities model tokenizes the
// text again with the same tokenizer.json and max_length, which gives the tokens' words and offsets.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { modelTags } from '../../src/tasks/token-classification/data.ts';
import type { ModelConfig, TensorConfig } from './model-config.ts';
import { TEXT_INPUT, textEnsembleBlocker, tokenizerConfig, type TokenizerSettings } from './text-ensemble.ts';

export const NER_MODEL_PY = fileURLToPath(new URL('./python/token_classification.py', import.meta.url));
export const LOGITS = 'logits';
export const ENTITIES_OUTPUT = 'ENTITIES';

const strings = (name: string, maxBatchSize: number): TensorConfig => ({ name, dataType: 'TYPE_STRING', dims: maxBatchSize > 0 ? [1] : [-1] });

/** Why the model cannot be served as NER (its logits, its tag names), or undefined. */
export function nerEnsembleBlocker(model: ModelConfig, labels: string[] | undefined): string | undefined {
  const o = model.output.find((t) => t.name === LOGITS);
  if (!o) return `the model has no ${LOGITS} output (outputs: ${model.output.map((t) => t.name).join(', ')})`;
  if (o.dataType !== 'TYPE_FP32') return `the model output ${LOGITS} is ${o.dataType}, not TYPE_FP32`;
  const tokenDims = model.maxBatchSize > 0 ? 2 : 3;
  if (o.reshape || o.dims.length !== tokenDims) return `the model output ${LOGITS} has dims [ ${o.dims.join(', ')} ], not one row of tag logits per token`;
  if (!labels) return 'config.json has no id2label: the entities model needs the tag names';
  const width = o.dims[o.dims.length - 1]!;
  if (width !== -1 && width !== labels.length) return `the model output ${LOGITS} has ${width} logits per token but id2label ${labels.length} tags`;
  return undefined;
}

export interface NerEnsemble {
  entities: ModelConfig;
  ensemble: ModelConfig;
}

/** The entities model and the ensemble around `tokenizer` (the text ensemble's tokenizer model) and `model`. */
export function nerEnsembleConfigs(name: string, tokenizer: ModelConfig, model: ModelConfig, settings: TokenizerSettings, labels: string[], instances: number): NerEnsemble {
  const m = model.maxBatchSize;
  const logits = model.output.find((o) => o.name === LOGITS)!;
  const logitsTensor: TensorConfig = { name: LOGITS, dataType: logits.dataType, dims: [...logits.dims] };
  const entities: ModelConfig = {
    name: `${name}_entities`,
    backend: 'python',
    maxBatchSize: m,
    input: [strings(TEXT_INPUT, m), logitsTensor],
    output: [strings(ENTITIES_OUTPUT, m)],
    // Post-processing is CPU work on each request's own texts: no dynamic batching.
    instanceGroup: [{ count: instances, kind: 'KIND_CPU' }],
    parameters: { max_length: String(settings.maxLength), labels: JSON.stringify(labels) },
  };
  const identity = (tensors: TensorConfig[]) => Object.fromEntries(tensors.map((t) => [t.name, t.name]));
  const ensemble: ModelConfig = {
    name: `${name}_ensemble`,
    platform: 'ensemble',
    maxBatchSize: m,
    input: [strings(TEXT_INPUT, m)],
    output: [strings(ENTITIES_OUTPUT, m)],
    ensembleScheduling: {
      step: [
        { modelName: tokenizer.name, modelVersion: -1, inputMap: { [TEXT_INPUT]: TEXT_INPUT }, outputMap: identity(tokenizer.output) },
        { modelName: model.name, modelVersion: -1, inputMap: identity(model.input), outputMap: { [LOGITS]: LOGITS } },
        { modelName: entities.name, modelVersion: -1, inputMap: identity(entities.input), outputMap: identity(entities.output) },
      ],
    },
    instanceGroup: [],
  };
  return { entities, ensemble };
}

/** A model folder to write: its config and the files of version 1. */
export interface NerFolder {
  config: ModelConfig;
  files: { from: string; to: string }[];
}

/**
 * The folders of the NER repository beside the ONNX model's: the text tokenizer, the entities model
 * (token_classification.py + tokenizer.json) and the ensemble; or why they cannot be made. The tag
 * names are config.json's id2label (read here: the triton step drops them from the logits output).
 */
export async function nerRepositoryFolders(args: {
  name: string;
  hfDir: string | undefined;
  tokenizer: { file: string; settings: TokenizerSettings } | undefined;
  onnxConfig: ModelConfig;
  instances: number;
  tokenizerModelPy: string;
}): Promise<{ folders: NerFolder[]; ensemble?: string; why?: string }> {
  const { name, tokenizer, onnxConfig, instances } = args;
  if (!tokenizer) return { folders: [], why: 'no hf-model input with tokenizer.json' };
  const configFile = args.hfDir ? join(args.hfDir, 'config.json') : undefined;
  const labels = configFile && existsSync(configFile) ? modelTags(JSON.parse(await readFile(configFile, 'utf8')) as Record<string, unknown>) : undefined;
  const blocker = textEnsembleBlocker(onnxConfig) ?? nerEnsembleBlocker(onnxConfig, labels);
  if (blocker) return { folders: [], why: blocker };
  const tokenizerModel = tokenizerConfig(`${name}_tokenizer`, onnxConfig, tokenizer.settings, instances);
  const { entities, ensemble } = nerEnsembleConfigs(name, tokenizerModel, onnxConfig, tokenizer.settings, labels!, instances);
  return {
    folders: [
      {
        config: tokenizerModel,
        files: [
          { from: args.tokenizerModelPy, to: 'model.py' },
          { from: tokenizer.file, to: 'tokenizer.json' },
        ],
      },
      {
        config: entities,
        files: [
          { from: NER_MODEL_PY, to: 'model.py' },
          { from: tokenizer.file, to: 'tokenizer.json' },
        ],
      },
      { config: ensemble, files: [] },
    ],
    ensemble: ensemble.name,
  };
}
