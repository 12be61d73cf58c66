// Sentence embeddings (sentence-transformers models, or a bare encoder named `task: embedding`):
// the pooled, optionally normalised vector `sentence_embedding`; judged INT8 against FP32 by mean
// cosine, recall@10 of nearest neighbours and Spearman correlation of pairwise similarities.
import type { TaskDefinition } from '../task.ts';
import { poolingHead } from './head.ts';
import { readPooling } from './pooling.ts';

export const embeddingTask: TaskDefinition = {
  name: 'embedding',
  summary: 'sentence embeddings: pooled (mean / CLS / max) and optionally L2-normalised hidden states',
  async exportHead({ modelDir }) {
    return poolingHead(await readPooling(modelDir));
  },
};
