// What bench reports for a sentence-embedding model, under its metric `embedding` (gate them as
// bench.embedding.recallAt10). Plain data: bench's declaration imports it without loading the task.
import type { MetricsDeclaration } from '../../engine/plugin.ts';

export const embeddingMetrics: MetricsDeclaration = {
  texts: { unit: 'count', better: 'none', description: 'Evaluation texts embedded by both models.' },
  dimension: { unit: 'count', better: 'none', description: 'Length of the embedding vector.' },
  output: { type: 'text', description: 'The graph output read as the embedding (sentence_embedding).' },
  meanCosine: { unit: 'number', better: 'higher', description: 'Mean cosine similarity of each text’s INT8 and FP32 embeddings.' },
  minCosine: { unit: 'number', better: 'higher', description: 'Smallest cosine similarity of a text’s INT8 and FP32 embeddings.' },
  recallAt10: {
    unit: 'ratio',
    better: 'higher',
    description: 'Mean over the texts of |INT8’s 10 nearest neighbours ∩ FP32’s| / 10, by cosine, over the evaluation set (fewer than 10 when the set is smaller).',
  },
  spearman: { unit: 'number', better: 'higher', description: 'Spearman rank correlation of the INT8 and FP32 cosine similarities of every pair of texts (of the first 1000).' },
  fp32RetrievalAccuracy: {
    unit: 'ratio',
    better: 'higher',
    description: 'Gold: share of texts (of groups with two or more) whose FP32 nearest other text is a paraphrase (same group); null without groups.',
  },
  int8RetrievalAccuracy: { unit: 'ratio', better: 'higher', description: 'The same for INT8; null without groups.' },
  maxAbsError: { unit: 'number', better: 'lower', description: 'Largest |INT8 − FP32| over every embedding component.' },
};
