// config.json → DecoderConfig: transformers' class defaults where keys are absent, RoPE's base from
// each place a config may keep it, the family-specific biases, and refusals that name the key.
import { describe, expect, it } from 'vitest';
import { isDecoderConfig, parseDecoderConfig } from './decoder-config.ts';

const parse = (raw: Record<string, unknown>) => parseDecoderConfig(raw, '/m/config.json');

describe('parseDecoderConfig', () => {
  it("GPT2Config's defaults: 12 × 768, 12 heads, n_inner 4·n_embd (null too), gelu_new, eps 1e-5, tied, scaled", () => {
    expect(parse({ model_type: 'gpt2', n_inner: null })).toMatchObject({
      family: 'gpt2', vocabSize: 50257, hiddenSize: 768, layers: 12, heads: 12, kvHeads: 12, headDim: 64, intermediateSize: 3072,
      maxPositions: 1024, normEps: 1e-5, hiddenAct: 'gelu_new', tieWordEmbeddings: true, scaleAttention: true,
    });
    expect(parse({ model_type: 'gpt2', scale_attn_weights: false, tie_word_embeddings: false }).scaleAttention).toBe(false);
  });

  it('Llama / Qwen2 / Mistral class defaults differ where transformers says so', () => {
    expect(parse({ model_type: 'llama' })).toMatchObject({ vocabSize: 32000, intermediateSize: 11008, kvHeads: 32, headDim: 128, normEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: false, qkvBias: false, outputBias: false, mlpBias: false });
    expect(parse({ model_type: 'qwen2' })).toMatchObject({ vocabSize: 151936, intermediateSize: 22016, qkvBias: true, outputBias: false });
    expect(parse({ model_type: 'qwen2', attention_bias: true }).outputBias).toBe(false); // Qwen2Attention ignores it
    expect(parse({ model_type: 'mistral' })).toMatchObject({ kvHeads: 8, intermediateSize: 14336, slidingWindow: 4096 });
    expect(parse({ model_type: 'mistral', sliding_window: null }).slidingWindow).toBeUndefined();
    expect(parse({ model_type: 'llama', attention_bias: true, mlp_bias: true })).toMatchObject({ qkvBias: true, outputBias: true, mlpBias: true });
  });

  it('head_dim from config.json when given (null: hidden / heads)', () => {
    expect(parse({ model_type: 'llama', hidden_size: 64, num_attention_heads: 4, head_dim: 24 }).headDim).toBe(24);
    expect(parse({ model_type: 'llama', hidden_size: 64, num_attention_heads: 4, head_dim: null }).headDim).toBe(16);
  });

  it("RoPE's base: top-level rope_theta, rope_scaling of type default, or transformers 5's rope_parameters", () => {
    expect(parse({ model_type: 'llama', rope_theta: 500000 }).ropeTheta).toBe(500000);
    expect(parse({ model_type: 'llama', rope_theta: 500000, rope_scaling: null }).ropeTheta).toBe(500000);
    expect(parse({ model_type: 'llama', rope_parameters: { rope_type: 'default', rope_theta: 1e6 } }).ropeTheta).toBe(1e6);
    expect(parse({ model_type: 'qwen2', rope_scaling: { type: 'default' }, rope_theta: 123 }).ropeTheta).toBe(123);
  });

  it('linear and llama3 rope types with their parameters; a missing one is named', () => {
    expect(parse({ model_type: 'llama', rope_scaling: { type: 'linear', factor: 2 } }).ropeScaling).toEqual({ type: 'linear', factor: 2 });
    const llama3 = { rope_type: 'llama3', rope_theta: 500000, factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    expect(parse({ model_type: 'llama', rope_parameters: llama3 })).toMatchObject({
      ropeTheta: 500000, ropeScaling: { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 },
    });
    expect(parse({ model_type: 'llama', rope_parameters: { rope_type: 'default' } }).ropeScaling).toBeUndefined();
    const { original_max_position_embeddings: _, ...incomplete } = llama3;
    expect(() => parse({ model_type: 'llama', rope_parameters: incomplete })).toThrow('"rope_parameters.original_max_position_embeddings" is missing');
  });

  it('architectures decide when model_type is absent; encoders are not decoders', () => {
    expect(parse({ architectures: ['Qwen2ForCausalLM'] }).modelType).toBe('qwen2');
    expect(isDecoderConfig({ model_type: 'bert', architectures: ['BertForSequenceClassification'] })).toBe(false);
    expect(isDecoderConfig({ model_type: 'phi', architectures: ['PhiForCausalLM'] })).toBe(true); // then refused by name
    expect(() => parse({ model_type: 'phi', architectures: ['PhiForCausalLM'] })).toThrow('/m/config.json: "model_type" is "phi"; the native decoder exporter builds gpt2, llama, qwen2, mistral');
  });

  it('refuses what it cannot build, naming the key, and bad numbers as EXPORT_CONFIG_INVALID', () => {
    expect(() => parse({ model_type: 'llama', partial_rotary_factor: 0.5 })).toThrow('"partial_rotary_factor" is 0.5');
    expect(() => parse({ model_type: 'llama', rope_parameters: { rope_type: 'default', partial_rotary_factor: 0.25 } })).toThrow('"rope_parameters.partial_rotary_factor" is 0.25');
    expect(() => parse({ model_type: 'llama', hidden_size: 30, num_attention_heads: 4 })).toThrow('"head_dim" is 7.5');
    expect(parse({ model_type: 'qwen2', layer_types: ['full_attention', 'full_attention'] }).slidingWindow).toBeUndefined();
    expect(() => parse({ model_type: 'qwen2', layer_types: ['full_attention', 'sliding_attention'] })).toThrow('"layer_types" is ["full_attention","sliding_attention"]');
    try {
      parse({ model_type: 'gpt2', n_layer: '4' });
      expect.unreachable();
    } catch (e) {
      expect((e as { code: string }).code).toBe('EXPORT_CONFIG_INVALID');
      expect((e as Error).message).toBe('/m/config.json: "n_layer" is "4", not a positive number');
    }
  });
});
