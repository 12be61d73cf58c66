// config.json → what the decoder exporter needs, with transformers' class defaults where a key is
// absent (GPT2Config, LlamaConfig, Qwen2Config, MistralConfig in transformers 5.17). Everything the
// graph does not implement is refused here, naming config.json and the key, before a weight is read:
// a model that exported but computed something else would be worse than no model.
import { QrunError } from '../../errors.ts';

/** GPT-2: learned positions, LayerNorm, Conv1D. Llama: RoPE, RMSNorm, GQA, SwiGLU (also Qwen2, Mistral). */
export type DecoderFamily = 'gpt2' | 'llama';

const FAMILIES: Record<string, DecoderFamily> = { gpt2: 'gpt2', llama: 'llama', qwen2: 'llama', mistral: 'llama' };
const ARCHITECTURES: Record<string, string> = {
  GPT2LMHeadModel: 'gpt2',
  LlamaForCausalLM: 'llama',
  Qwen2ForCausalLM: 'qwen2',
  MistralForCausalLM: 'mistral',
};

export const SUPPORTED_DECODER_TYPES = Object.keys(FAMILIES);

/** The activations src/export/layers.ts `activation` builds (transformers' ACT2FN names). */
const ACTIVATIONS = ['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'gelu_fast', 'relu', 'silu', 'swish'];

export interface DecoderConfig {
  /** The config file, for messages. */
  file: string;
  modelType: string;
  family: DecoderFamily;
  architectures: string[];
  vocabSize: number;
  hiddenSize: number;
  layers: number;
  heads: number;
  /** num_key_value_heads (grouped-query attention); = heads for GPT-2 and MHA models. */
  kvHeads: number;
  headDim: number;
  intermediateSize: number;
  maxPositions: number;
  /** layer_norm_epsilon (GPT-2) or rms_norm_eps (Llama family). */
  normEps: number;
  hiddenAct: string;
  tieWordEmbeddings: boolean;
  initializerRange: number;
  /** GPT-2's scale_attn_weights: scores divided by √head_dim (true unless the config says false). */
  scaleAttention: boolean;
  /** RoPE base (rope_theta), Llama family only. */
  ropeTheta: number;
  /** A rope type that rescales the frequencies (linear, llama3); absent for plain RoPE. */
  ropeScaling?: RopeScaling;
  /** Biases on q/k/v projections (Qwen2 always; Llama with attention_bias). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama with attention_bias; never Qwen2). */
  outputBias: boolean;
  /** Biases on gate/up/down (Llama's mlp_bias). */
  mlpBias: boolean;
  /** Mistral's sliding_window: a query sees only the last `slidingWindow` positions (itself included). */
  slidingWindow?: number;
}

/**
 * The frequency rescalings of transformers' modeling_rope_utils.py that keep the attention scale at 1
 * and depend on nothing but the config: `linear` (inv_freq / factor) and `llama3` (long wavelengths
 * / factor, short ones kept, a smooth blend between).
 */
export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

type Raw = Record<string, unknown>;

export const decoderConfigErrors = {
  /** A key whose value the graph does not implement. */
  unsupported: (file: string, key: string, value: unknown, why: string) =>
    new QrunError([
      {
        code: 'EXPORT_CONFIG_UNSUPPORTED',
        message: `${file}: "${key}" is ${JSON.stringify(value)}; ${why}`,
        location: { file },
        hint: 'the native decoder exporter builds GPT-2 and Llama/Qwen2/Mistral-shaped models in their plain form; export this model to ONNX with PyTorch (optimum-cli export onnx) and let hf.load read it',
      },
    ]),
  /** A key that must be a number is missing or is not one. */
  invalid: (file: string, key: string, value: unknown) =>
    new QrunError([
      {
        code: 'EXPORT_CONFIG_INVALID',
        message: `${file}: "${key}" is ${value === undefined ? 'missing' : JSON.stringify(value)}, not a positive number`,
        location: { file },
        hint: 'config.json comes from save_pretrained; compare it with the model card',
      },
    ]),
};

function positive(raw: Raw, file: string, key: string, fallback: number, integer = true): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) throw decoderConfigErrors.invalid(file, key, raw[key]);
  return v;
}

function flag(raw: Raw, file: string, key: string, fallback: boolean): boolean {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'boolean') throw decoderConfigErrors.unsupported(file, key, v, 'expected true or false');
  return v;
}

function activationOf(raw: Raw, file: string, key: string, fallback: string): string {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'string' || !ACTIVATIONS.includes(v)) throw decoderConfigErrors.unsupported(file, key, v, `the exporter builds ${ACTIVATIONS.join(', ')}`);
  return v;
}

/** The model type a config describes, when it is a decoder this exporter builds (model_type, else architectures). */
export function decoderModelType(raw: Raw): string | undefined {
  const modelType = typeof raw.model_type === 'string' ? raw.model_type : undefined;
  if (modelType && FAMILIES[modelType]) return modelType;
  const arch = Array.isArray(raw.architectures) ? String(raw.architectures[0] ?? '') : '';
  return ARCHITECTURES[arch];
}

/** Whether config.json is a causal LM (a decoder family, or any …ForCausalLM / …LMHeadModel architecture). */
export function isDecoderConfig(raw: Raw): boolean {
  if (decoderModelType(raw)) return true;
  const arch = Array.isArray(raw.architectures) ? String(raw.architectures[0] ?? '') : '';
  return arch.endsWith('ForCausalLM') || arch.endsWith('LMHeadModel');
}

export function parseDecoderConfig(raw: Raw, file: string): DecoderConfig {
  const modelType = decoderModelType(raw);
  if (!modelType) {
    throw decoderConfigErrors.unsupported(file, 'model_type', raw.model_type ?? null, `the native decoder exporter builds ${SUPPORTED_DECODER_TYPES.join(', ')} (architectures ${Object.keys(ARCHITECTURES).join(', ')})`);
  }
  const family = FAMILIES[modelType]!;
  const architectures = Array.isArray(raw.architectures) ? raw.architectures.map(String) : [];
  return family === 'gpt2' ? parseGpt2(raw, file, architectures) : parseLlama(raw, file, modelType, architectures);
}

/** GPT2Config (configuration_gpt2.py). */
function parseGpt2(raw: Raw, file: string, architectures: string[]): DecoderConfig {
  // Options that change what the block computes and that the graph does not build.
  if (flag(raw, file, 'scale_attn_by_inverse_layer_idx', false)) {
    throw decoderConfigErrors.unsupported(file, 'scale_attn_by_inverse_layer_idx', true, 'scaling attention scores by 1/(layer + 1) is not implemented (only false)');
  }
  if (flag(raw, file, 'add_cross_attention', false)) {
    throw decoderConfigErrors.unsupported(file, 'add_cross_attention', true, 'cross-attention (an encoder-decoder GPT-2) is not implemented');
  }
  // reorder_and_upcast_attn only changes the order of float16 operations; in float32 it is the same sum.
  const hidden = positive(raw, file, 'n_embd', 768);
  const heads = positive(raw, file, 'n_head', 12);
  const headDim = hidden / heads;
  if (!Number.isInteger(headDim)) throw decoderConfigErrors.unsupported(file, 'n_head', heads, `n_embd ${hidden} is not a multiple of it`);
  const inner = raw.n_inner === null || raw.n_inner === undefined ? 4 * hidden : positive(raw, file, 'n_inner', 4 * hidden);
  return {
    file,
    modelType: 'gpt2',
    family: 'gpt2',
    architectures,
    vocabSize: positive(raw, file, 'vocab_size', 50257),
    hiddenSize: hidden,
    layers: positive(raw, file, 'n_layer', 12),
    heads,
    kvHeads: heads,
    headDim,
    intermediateSize: inner,
    maxPositions: positive(raw, file, 'n_positions', 1024),
    normEps: positive(raw, file, 'layer_norm_epsilon', 1e-5, false),
    hiddenAct: activationOf(raw, file, 'activation_function', 'gelu_new'),
    tieWordEmbeddings: flag(raw, file, 'tie_word_embeddings', true),
    initializerRange: positive(raw, file, 'initializer_range', 0.02, false),
    scaleAttention: flag(raw, file, 'scale_attn_weights', true),
    ropeTheta: 0,
    qkvBias: true,
    outputBias: true,
    mlpBias: true,
  };
}

/** Per-class defaults that differ (LlamaConfig, Qwen2Config, MistralConfig.__init__). */
const LLAMA_DEFAULTS: Record<string, { vocab: number; intermediate: number; kvHeads?: number; maxPositions: number }> = {
  llama: { vocab: 32000, intermediate: 11008, maxPositions: 2048 },
  qwen2: { vocab: 151936, intermediate: 22016, maxPositions: 32768 },
  mistral: { vocab: 32000, intermediate: 14336, kvHeads: 8, maxPositions: 4096 * 32 },
};

/** LlamaConfig and the configs shaped like it (Qwen2, Mistral). */
function parseLlama(raw: Raw, file: string, modelType: string, architectures: string[]): DecoderConfig {
  const defaults = LLAMA_DEFAULTS[modelType]!;
  const hidden = positive(raw, file, 'hidden_size', 4096);
  const heads = positive(raw, file, 'num_attention_heads', 32);
  const kvHeads = positive(raw, file, 'num_key_value_heads', defaults.kvHeads ?? heads);
  if (heads % kvHeads !== 0) throw decoderConfigErrors.unsupported(file, 'num_key_value_heads', kvHeads, `num_attention_heads ${heads} is not a multiple of it`);
  // head_dim: given by newer configs (Mistral, Llama 3.2); else hidden_size / heads (null counts as absent).
  const headDim = raw.head_dim === null || raw.head_dim === undefined ? hidden / heads : positive(raw, file, 'head_dim', hidden / heads);
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw decoderConfigErrors.unsupported(file, 'head_dim', headDim, 'RoPE needs an even, whole head dimension (hidden_size / num_attention_heads)');

  const { theta: ropeTheta, scaling: ropeScaling } = parseRope(raw, file);
  for (const key of ['partial_rotary_factor']) {
    if (raw[key] !== undefined && raw[key] !== null && raw[key] !== 1 && raw[key] !== 1.0) throw decoderConfigErrors.unsupported(file, key, raw[key], 'only full rotary embeddings (1.0) are implemented');
  }
  if (modelType === 'qwen2' && flag(raw, file, 'use_sliding_window', false)) {
    throw decoderConfigErrors.unsupported(file, 'use_sliding_window', true, "Qwen2's per-layer sliding-window attention (max_window_layers) is not implemented (only false)");
  }
  // transformers 5's per-layer attention kinds (Qwen2 writes them): one kind for every layer only.
  const layerTypes = raw.layer_types;
  if (layerTypes !== undefined && layerTypes !== null) {
    const kinds = Array.isArray(layerTypes) ? [...new Set(layerTypes)] : [layerTypes];
    const expected = modelType === 'mistral' && raw.sliding_window !== null ? 'sliding_attention' : 'full_attention';
    if (kinds.length !== 1 || (kinds[0] !== expected && kinds[0] !== 'full_attention')) {
      throw decoderConfigErrors.unsupported(file, 'layer_types', layerTypes, `every layer must be ${expected} (per-layer sliding windows are not implemented)`);
    }
  }
  let slidingWindow: number | undefined;
  if (modelType === 'mistral' && raw.sliding_window !== null) slidingWindow = positive(raw, file, 'sliding_window', 4096);
  const attentionBias = modelType === 'llama' ? flag(raw, file, 'attention_bias', false) : false;
  return {
    file,
    modelType,
    family: 'llama',
    architectures,
    vocabSize: positive(raw, file, 'vocab_size', defaults.vocab),
    hiddenSize: hidden,
    layers: positive(raw, file, 'num_hidden_layers', 32),
    heads,
    kvHeads,
    headDim,
    intermediateSize: positive(raw, file, 'intermediate_size', defaults.intermediate),
    maxPositions: positive(raw, file, 'max_position_embeddings', defaults.maxPositions),
    normEps: positive(raw, file, 'rms_norm_eps', 1e-6, false),
    hiddenAct: activationOf(raw, file, 'hidden_act', 'silu'),
    tieWordEmbeddings: flag(raw, file, 'tie_word_embeddings', false),
    initializerRange: positive(raw, file, 'initializer_range', 0.02, false),
    scaleAttention: true,
    ropeTheta,
    ...(ropeScaling ? { ropeScaling } : {}),
    // Qwen2Attention: q/k/v with bias, o_proj without, whatever the config says.
    qkvBias: modelType === 'qwen2' || attentionBias,
    outputBias: attentionBias,
    mlpBias: modelType === 'llama' ? flag(raw, file, 'mlp_bias', false) : false,
    ...(slidingWindow ? { slidingWindow } : {}),
  };
}

/**
 * RoPE's base and rescaling. transformers 5 writes `rope_parameters: {rope_type, rope_theta, …}`;
 * earlier versions a top-level `rope_theta` and `rope_scaling: {type | rope_type, factor, …}` (null
 * for plain RoPE). Built: `default`, `linear`, `llama3`. Refused: dynamic, yarn, longrope and the
 * rest (they change the frequencies with the sequence length or scale the attention), rather than
 * silently computing plain RoPE.
 */
function parseRope(raw: Raw, file: string): { theta: number; scaling?: RopeScaling } {
  let theta: unknown = raw.rope_theta ?? 10000;
  let scaling: RopeScaling | undefined;
  for (const key of ['rope_parameters', 'rope_scaling']) {
    const spec = raw[key];
    if (spec === undefined || spec === null) continue;
    if (typeof spec !== 'object' || Array.isArray(spec)) throw decoderConfigErrors.unsupported(file, key, spec, 'expected an object');
    const s = spec as Raw;
    const type = s.rope_type ?? s.type ?? (key === 'rope_parameters' ? 'default' : undefined);
    if (s.partial_rotary_factor !== undefined && s.partial_rotary_factor !== 1) {
      throw decoderConfigErrors.unsupported(file, `${key}.partial_rotary_factor`, s.partial_rotary_factor, 'only full rotary embeddings (1.0) are implemented');
    }
    if (s.rope_theta !== undefined) theta = s.rope_theta;
    const number = (name: string) => {
      const v = s[name];
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw decoderConfigErrors.invalid(file, `${key}.${name}`, v);
      return v;
    };
    if (type === 'default') continue;
    if (type === 'linear') scaling = { type, factor: number('factor') };
    else if (type === 'llama3') {
      scaling = { type, factor: number('factor'), lowFreqFactor: number('low_freq_factor'), highFreqFactor: number('high_freq_factor'), originalMaxPositions: number('original_max_position_embeddings') };
    } else {
      throw decoderConfigErrors.unsupported(file, `${key}.rope_type`, type ?? null, 'the rope types implemented are default, linear and llama3');
    }
  }
  if (typeof theta !== 'number' || !Number.isFinite(theta) || theta <= 0) throw decoderConfigErrors.invalid(file, 'rope_theta', theta);
  return { theta, ...(scaling ? { scaling } : {}) };
}
