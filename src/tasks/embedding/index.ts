// Sentence embeddings (sentence-transformers models, or a bare encoder named `task: embedding`):
// the pooled, optionally normalised vector `sentence_embedding`; judged INT8 against FP32 by mean
// cosine, recall@10 of nearest neighbours and Spearman correlation of pairwise similarities, and
// against gold paraphrase groups where the data has them.
import type { TaskDefinition } from '../task.ts';
import { tokenizeEmbeddingData } from './data.ts';
import { evaluateEmbeddings } from './evaluate.ts';
import { embeddingExportHead } from './head.ts';

export const embeddingTask: TaskDefinition = {
  name: 'embedding',
  summary: 'sentence embeddings: pooled (mean / CLS / max) and optionally L2-normalised hidden states',
  exportHead: embeddingExportHead,
  readData: tokenizeEmbeddingData,
  evaluate: evaluateEmbeddings,
};
