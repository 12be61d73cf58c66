// What bench reports for a decoder, under its metric `textGeneration` (gate them as
// bench.textGeneration.perplexityIncrease, bench.textGeneration.tokenAgreement). Plain data: bench's
// declaration imports it without loading the task. "Quantized" is bench's candidate model (INT8 or
// INT4 weights); the timings are also bench's `latency` rows (time to first token, tokens/s), so
// compare and the matrix read them with their noise.
import type { MetricsDeclaration } from '../../engine/plugin.ts';

const rate: MetricsDeclaration = {
  batch: { unit: 'count', better: 'none', description: 'Prompts decoded together (left-padded).' },
  newTokens: { unit: 'count', better: 'none', description: 'Tokens generated per prompt in each timed run.' },
  fp32: { unit: 'tokens/s', better: 'higher', description: 'FP32: generated tokens per second of decoding (batch × steps after the first token ÷ their time; median run).' },
  int8: { unit: 'tokens/s', better: 'higher', description: 'Quantized model: the same.' },
  speedup: { unit: '×', better: 'higher', description: 'Quantized ÷ FP32 tokens/s: 1 / the median of the interleaved pairs’ time ratios.' },
  low: { unit: '×', better: 'higher', description: 'Lower end of the speed-up’s 95% block-bootstrap interval; null with one block.' },
  high: { unit: '×', better: 'higher', description: 'Upper end of that interval; null with one block.' },
};

export const textGenerationMetrics: MetricsDeclaration = {
  prompts: { unit: 'count', better: 'none', description: 'Evaluation texts whose first promptTokens ids were decoded greedily by both models.' },
  promptTokens: { unit: 'count', better: 'none', description: 'Prompt length in tokens (each evaluation text’s first tokens).' },
  newTokens: { unit: 'count', better: 'none', description: 'Tokens generated per prompt for the agreement (greedy, KV cache).' },
  perplexityTexts: { unit: 'count', better: 'none', description: 'Evaluation texts the perplexity is taken over.' },
  perplexityTokens: { unit: 'count', better: 'none', description: 'Predicted tokens the perplexity averages over (each text’s first ≤ n_positions tokens, every one after the first).' },
  fp32Perplexity: { unit: 'number', better: 'lower', description: 'FP32 perplexity: exp of the mean negative log-likelihood of each next token, over every predicted token of every evaluation text (one full-context pass per text, no stride).' },
  int8Perplexity: { unit: 'number', better: 'lower', description: 'The quantized model’s perplexity, the same way.' },
  perplexityIncrease: { unit: 'ratio', better: 'lower', description: 'Quantized perplexity ÷ FP32 perplexity − 1 (0.05 = 5% higher): the gate for a weight-only quantized decoder.' },
  tokenAgreement: {
    unit: 'ratio',
    better: 'higher',
    description: 'Mean over prompts of the share of the first newTokens generated tokens the quantized model gets equal to FP32 before the first token where they differ (1 = identical continuations).',
  },
  exactMatch: { unit: 'ratio', better: 'higher', description: 'Share of prompts whose newTokens generated tokens are all equal to FP32’s.' },
  firstDivergence: { type: 'list', description: 'Per prompt, the index of the first generated token that differs from FP32’s (newTokens when none does).' },
  examples: { type: 'list', description: 'Up to 3 prompts with FP32’s and the quantized model’s continuations, as text.' },
  timeToFirstToken: {
    type: 'object',
    description: 'Batch 1: prefill of the prompt and the first token’s choice, median over the timed runs, interleaved FP32/quantized.',
    fields: {
      promptTokens: { unit: 'count', better: 'none', description: 'Prompt length.' },
      fp32: { unit: 'ms', better: 'lower', description: 'FP32 median.' },
      int8: { unit: 'ms', better: 'lower', description: 'Quantized median.' },
      ratio: { unit: '×', better: 'lower', description: 'Quantized ÷ FP32 time (median of pair ratios).' },
    },
  },
  tokensPerSecond: { type: 'table', description: 'Per batch size (1 and 4 by default): decoding tokens/s of FP32 and the quantized model and the speed-up with its interval.', fields: rate },
  meanCosine: { unit: 'number', better: 'higher', description: 'Mean over the perplexity pass’s positions of the cosine of the quantized and FP32 next-token logits.' },
  minCosine: { unit: 'number', better: 'higher', description: 'Smallest such cosine.' },
  maxAbsError: { unit: 'number', better: 'lower', description: 'Largest |quantized − FP32| next-token logit over the perplexity pass.' },
  output: { type: 'text', description: 'The graph output read as the next-token logits.' },
};
