// Token classification (NER; *ForTokenClassification checkpoints): the model scores every token
// with the tags of config.json's id2label (B-PER, I-PER, O…); a word takes the tag of its first
// sub-token and the tags are grouped into entities as seqeval does. The export is each family's own
// `classifier` on every token (src/export/encoder-parts.ts emitOutput), so no head is given here.
// Judged INT8 against FP32's entities and against gold by entity F1; served by Triton with a
// Python post-processor that returns the entities with their words and character offsets.
import type { TaskDefinition } from '../task.ts';
import { tokenizeTokenClassificationData } from './data.ts';
import { evaluateTokenClassification } from './evaluate.ts';

export const tokenClassificationTask: TaskDefinition = {
  name: 'token-classification',
  summary: 'token classification (NER): a tag per word from its first sub-token, entities scored as seqeval does',
  readData: tokenizeTokenClassificationData,
  evaluate: evaluateTokenClassification,
};
