import type { ExportTask } from '../../src/export/index.ts';

export interface OnnxExportOptions {
  /** Model directory (config.json + safetensors), overriding the recipe's `model:` (relative to the recipe). */
  model?: string;
  /** Default: from config.json's `architectures` (…ForSequenceClassification, …ForTokenClassification, else base). */
  task?: ExportTask;
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
    model: { type: 'string', minLength: 1 },
    task: { enum: ['sequence-classification', 'token-classification', 'base'] },
    weights: { enum: ['checkpoint', 'random'], default: 'checkpoint' },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295, default: 0 },
    config: { type: 'string', minLength: 1 },
  },
};
