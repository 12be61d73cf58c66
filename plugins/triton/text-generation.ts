// The Triton models that serve text generation: a client sends a prompt and gets the greedy
// continuation back as text. transformer-deploy serves GPT-2 through a Python model that runs the
// whole sequence at every step (no cache); here the Python model runs the decode loop with the KV
// cache against the decoder ONNX model, which Triton's onnxruntime backend serves beside it:
//
//   <name>            onnxruntime         input_ids, attention_mask, position_ids, past_key_values.* → logits, present.*
//   <name>_generate   backend "python"    TEXT → GENERATED_TEXT (python/text_generation.py; calls <name> through BLS)
//
// The Python model tokenizes with the model's tokenizer.json (copied beside it), left-pads the
// prompts of one execute() together, calls <name> once for the prefill (empty past) and once per
// token (present fed back as past), stops each row at eos, and detokenizes. Its parameters come
// from the graph (layers, KV heads, head size), config.json (eos_token_id, the position limit), the
// tokenizer (pad id) and generation_config.json (max_new_tokens, default 64). The decoder model
// gets no dynamic batching: its calls come whole from the Python model, and two calls with caches
// of different lengths could not be batched anyway.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelConfig, TensorConfig } from './model-config.ts';
import { TEXT_INPUT, type TokenizerSettings } from './text-ensemble.ts';

export const GENERATION_MODEL_PY = fileURLToPath(new URL('./python/text_generation.py', import.meta.url));
export const GENERATED_TEXT_OUTPUT = 'GENERATED_TEXT';
/** When generation_config.json does not say. */
export const DEFAULT_MAX_NEW_TOKENS = 64;

const PAST = /^past_key_values\.(\d+)\.key$/;

const strings = (name: string, maxBatchSize: number): TensorConfig => ({ name, dataType: 'TYPE_STRING', dims: maxBatchSize > 0 ? [1] : [-1] });

export interface DecoderShape {
  layers: number;
  kvHeads: number;
  headDim: number;
}

/** Layers and cache shape from the decoder's config (dims after the batch axis when it batches), or why it is no decoder. */
export function decoderShape(model: ModelConfig): DecoderShape | string {
  const past = model.input.filter((i) => PAST.test(i.name));
  if (past.length === 0) return `the model has no past_key_values.{i}.key inputs (inputs: ${model.input.map((i) => i.name).join(', ')})`;
  for (const need of ['input_ids', 'attention_mask', 'position_ids']) if (!model.input.some((i) => i.name === need)) return `the model has no ${need} input`;
  if (!model.output.some((o) => o.name === 'logits' && o.dataType === 'TYPE_FP32')) return 'the model has no TYPE_FP32 logits output';
  const layers = past.length;
  for (let i = 0; i < layers; i++) {
    for (const name of [`past_key_values.${i}.key`, `past_key_values.${i}.value`]) if (!model.input.some((t) => t.name === name)) return `the model has no ${name} input`;
    for (const name of [`present.${i}.key`, `present.${i}.value`]) if (!model.output.some((t) => t.name === name)) return `the model has no ${name} output`;
  }
  const dims = past[0]!.dims;
  // [kv_heads, past, head_dim] after the batch axis (max_batch_size > 0), or the full 4 dims.
  const [kvHeads, headDim] = dims.length === 3 ? [dims[0]!, dims[2]!] : [dims[1]!, dims[3]!];
  if (!(kvHeads > 0 && headDim > 0)) return `past_key_values.0.key has dims [ ${dims.join(', ')} ]: the KV heads and head size must be fixed`;
  return { layers, kvHeads, headDim };
}

export interface GenerationSettingsForServing {
  padId: number;
  /** -1: none. */
  eosId: number;
  maxNewTokens: number;
  maxPositions: number;
}

/** eos, the position limit and max_new_tokens from the hf-model folder (config.json, generation_config.json). */
export async function servingSettings(hfDir: string | undefined, tokenizer: TokenizerSettings): Promise<GenerationSettingsForServing> {
  const read = async (f: string) => (hfDir && existsSync(join(hfDir, f)) ? (JSON.parse(await readFile(join(hfDir, f), 'utf8')) as Record<string, unknown>) : {});
  const config = await read('config.json');
  const generation = await read('generation_config.json');
  const first = (v: unknown) => (typeof v === 'number' ? v : Array.isArray(v) && typeof v[0] === 'number' ? (v[0] as number) : undefined);
  const eosId = first(generation.eos_token_id) ?? first(config.eos_token_id) ?? -1;
  const maxPositions = [config.n_positions, config.max_position_embeddings].find((v): v is number => typeof v === 'number' && v > 0) ?? tokenizer.maxLength;
  const maxNew = typeof generation.max_new_tokens === 'number' && generation.max_new_tokens > 0 ? generation.max_new_tokens : DEFAULT_MAX_NEW_TOKENS;
  return { padId: tokenizer.padId, eosId, maxNewTokens: Math.min(maxNew, Math.max(1, maxPositions - 1)), maxPositions };
}

/** The Python generation model's config: TEXT → GENERATED_TEXT, calling `model` for every step. */
export function generationModelConfig(name: string, model: ModelConfig, shape: DecoderShape, settings: GenerationSettingsForServing, instances: number): ModelConfig {
  const m = model.maxBatchSize;
  return {
    name: `${name}_generate`,
    backend: 'python',
    maxBatchSize: m,
    input: [strings(TEXT_INPUT, m)],
    output: [strings(GENERATED_TEXT_OUTPUT, m)],
    instanceGroup: [{ count: instances, kind: 'KIND_CPU' }],
    // Prompts that arrive together are decoded as one left-padded batch.
    ...(m > 0 ? { dynamicBatching: { preferredBatchSize: [], maxQueueDelayMicroseconds: 1000 } } : {}),
    parameters: {
      onnx_model: model.name,
      layers: String(shape.layers),
      kv_heads: String(shape.kvHeads),
      head_dim: String(shape.headDim),
      pad_id: String(settings.padId),
      eos_id: String(settings.eosId),
      max_new_tokens: String(settings.maxNewTokens),
      max_positions: String(settings.maxPositions),
    },
  };
}
