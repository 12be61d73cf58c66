// What bench reports for a token-classification (NER) model, under its metric
// `tokenClassification` (gate them as bench.tokenClassification.f1VsFp32). Plain data: bench's
// declaration imports it without loading the task. Entity scores are seqeval's (chunks.ts): exact
// type and span, micro-averaged over the set; a word's tag is the one predicted at its first token.
import type { MetricsDeclaration } from '../../engine/plugin.ts';

const typeRow: MetricsDeclaration = {
  type: { type: 'text', description: 'The entity type (PER, PATH, …).' },
  support: { unit: 'count', better: 'none', description: 'Gold entities of the type (FP32’s, without gold tags).' },
  f1VsFp32: { unit: 'ratio', better: 'higher', description: 'Entity F1 of INT8 with FP32’s entities as the gold, for the type.' },
  fp32F1: { unit: 'ratio', better: 'higher', description: 'FP32’s entity F1 against the gold tags, for the type; null without gold.' },
  int8F1: { unit: 'ratio', better: 'higher', description: 'INT8’s entity F1 against the gold tags, for the type; null without gold.' },
};

export const tokenClassificationMetrics: MetricsDeclaration = {
  sentences: { unit: 'count', better: 'none', description: 'Evaluation sentences tagged by both models.' },
  words: { unit: 'count', better: 'none', description: 'Words tagged (each on its first sub-token).' },
  truncatedWords: { unit: 'count', better: 'lower', description: 'Words cut off by the model’s maximum length: tagged O by both models (gold entities there are missed).' },
  entities: { unit: 'count', better: 'none', description: 'Gold entities in the set; null without gold tags.' },
  f1VsFp32: {
    unit: 'ratio',
    better: 'higher',
    description: 'Entity F1 of INT8’s predictions with FP32’s predictions as the gold (seqeval: exact type and span, micro-averaged): the gate for a quantized NER model.',
  },
  precisionVsFp32: { unit: 'ratio', better: 'higher', description: 'Share of INT8’s entities that FP32 also predicts.' },
  recallVsFp32: { unit: 'ratio', better: 'higher', description: 'Share of FP32’s entities that INT8 also predicts.' },
  tagAgreement: { unit: 'ratio', better: 'higher', description: 'Share of words whose INT8 tag is FP32’s.' },
  fp32F1: { unit: 'ratio', better: 'higher', description: 'Gold: FP32’s entity F1 against the data’s tags; null without gold.' },
  fp32Precision: { unit: 'ratio', better: 'higher', description: 'Gold: FP32’s entity precision; null without gold.' },
  fp32Recall: { unit: 'ratio', better: 'higher', description: 'Gold: FP32’s entity recall; null without gold.' },
  int8F1: { unit: 'ratio', better: 'higher', description: 'Gold: INT8’s entity F1 against the data’s tags; null without gold.' },
  int8Precision: { unit: 'ratio', better: 'higher', description: 'Gold: INT8’s entity precision; null without gold.' },
  int8Recall: { unit: 'ratio', better: 'higher', description: 'Gold: INT8’s entity recall; null without gold.' },
  f1Drop: { unit: 'ratio', better: 'lower', description: 'FP32’s gold F1 minus INT8’s (0.01 = one point lost); null without gold.' },
  perType: { type: 'table', description: 'Per entity type: support, INT8’s F1 against FP32, and each model’s F1 against gold.', fields: typeRow },
  differences: {
    type: 'list',
    description: 'Up to 5 sentences where INT8’s entities differ from FP32’s: the data line, the words, and each model’s entities.',
  },
  meanCosine: { unit: 'number', better: 'higher', description: 'Mean over the real tokens of the cosine of INT8’s and FP32’s logit vectors.' },
  minCosine: { unit: 'number', better: 'higher', description: 'Smallest such cosine.' },
  maxAbsError: { unit: 'number', better: 'lower', description: 'Largest |INT8 − FP32| logit over the real tokens.' },
  output: { type: 'text', description: 'The graph output read as the per-token logits.' },
};
