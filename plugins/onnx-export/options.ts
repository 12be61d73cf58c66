import { TASK_NAMES, type TaskName } from '../../src/tasks/task.ts';

export interface OnnxExportOptions {
  /** Model directory (config.json + safetensors), overriding the recipe's `model:` (relative to the recipe). */
  model?: string;
  /** Default: the recipe's `task:`, else a sentence-transformers folder or config.json's `architectures` (src/tasks/task.ts). */
  task?: TaskName | 'base';
  /** `checkpoint` reads the safetensors weights; `random` makes seeded normal(0, initializer_range) ones. */
  weights: 'checkpoint' | 'random';
  /** Seed of the random weights. */
  seed: number;
  /** A config.json to use instead of the model directory's (with `weights: random`, no model is needed). */
  config?: string;
}

export const onnxExportOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    model: { type: 'string', minLength: 1, description: "Model directory (config.json and model.safetensors), relative to the recipe; overrides the recipe's `model:`.", examples: ['../models/bert-langid'] },
    task: {
      enum: [...TASK_NAMES, 'base'],
      description:
        "The head to export; default: the recipe's `task:`, else a sentence-transformers folder (embedding: pooling from 1_Pooling/config.json, L2 normalisation with 2_Normalize, output sentence_embedding) or config.json's `architectures` (…ForSequenceClassification, …ForQuestionAnswering, …ForTokenClassification; …ForCausalLM / GPT2LMHeadModel, or model_type gpt2, llama, qwen2, mistral: text-generation). A checkpoint with no head needs it; `base` is the encoder's last_hidden_state with no head; `text-generation` is the decoder with its KV cache (docs/generation.md).",
      examples: ['embedding'],
    },
    weights: { enum: ['checkpoint', 'random'], default: 'checkpoint', description: 'checkpoint: the safetensors weights; random: seeded normal(0, initializer_range) weights (benchmarks of a model size, no checkpoint needed).' },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295, default: 0, description: 'Seed of the random weights (`weights: random`); the same seed gives the same bytes.', examples: [42] },
    config: { type: 'string', minLength: 1, description: "A config.json to use instead of the model directory's (relative to the recipe); with `weights: random` no model directory is needed.", examples: ['configs/bert-base.json'] },
  },
};
