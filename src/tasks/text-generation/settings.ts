// bench's `generation:` option (plain data: bench's options schema and the task's evaluation share it).

export interface GenerationSettings {
  /** Prompt length: each evaluation text's first promptTokens ids (texts no longer than that give no prompt). */
  promptTokens: number;
  /** Tokens generated per prompt for the agreement with FP32. */
  newTokens: number;
  /** How many prompts the agreement is measured on (the first texts long enough); 0 = all. */
  prompts: number;
  /** Batch sizes tokens/s is timed at (prompts decoded together). */
  batchSizes: number[];
  /** Tokens generated per timed run. */
  timedTokens: number;
}

export const GENERATION_DEFAULTS: GenerationSettings = { promptTokens: 16, newTokens: 32, prompts: 32, batchSizes: [1, 4], timedTokens: 32 };

/** JSON schema of bench's `generation` option. */
export const generationOptionSchema = {
  type: 'object',
  additionalProperties: false,
  description:
    'text generation (a decoder model): prompts are each evaluation text’s first promptTokens tokens, decoded greedily with the KV cache; the agreement of newTokens generated tokens with FP32, perplexity over the texts, time to first token and tokens/s at each of batchSizes (timedTokens per timed run; bench’s warmup, iterations and blocks set the timing). Ignored for other tasks',
  examples: [{ promptTokens: 16, newTokens: 16, prompts: 8, batchSizes: [1, 4], timedTokens: 16 }],
  properties: {
    promptTokens: { type: 'integer', minimum: 1, maximum: 65536, default: GENERATION_DEFAULTS.promptTokens, description: 'prompt length in tokens' },
    newTokens: { type: 'integer', minimum: 1, maximum: 4096, default: GENERATION_DEFAULTS.newTokens, description: 'tokens generated per prompt for the agreement with FP32' },
    prompts: { type: 'integer', minimum: 0, default: GENERATION_DEFAULTS.prompts, description: 'prompts the agreement is measured on; 0 = every evaluation text longer than promptTokens' },
    batchSizes: {
      type: 'array',
      minItems: 1,
      items: { type: 'integer', minimum: 1, maximum: 256 },
      default: GENERATION_DEFAULTS.batchSizes,
      description: 'batch sizes tokens/s is timed at',
    },
    timedTokens: { type: 'integer', minimum: 2, maximum: 4096, default: GENERATION_DEFAULTS.timedTokens, description: 'tokens generated per timed run (tokens/s counts those after the first)' },
  },
} as const;

export function withGenerationDefaults(raw: Partial<GenerationSettings> | undefined): GenerationSettings {
  return { ...GENERATION_DEFAULTS, ...(raw ?? {}) };
}
