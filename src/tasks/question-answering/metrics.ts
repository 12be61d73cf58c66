// What bench reports for an extractive question-answering model, under its metric
// `questionAnswering` (gate them as bench.questionAnswering.f1VsFp32). Plain data: bench's
// declaration imports it without loading the task. Exact match and F1 are SQuAD's (squad.ts).
import type { MetricsDeclaration } from '../../engine/plugin.ts';

export const questionAnsweringMetrics: MetricsDeclaration = {
  questions: { unit: 'count', better: 'none', description: 'Evaluation questions answered by both models.' },
  maxAnswerTokens: { unit: 'count', better: 'none', description: 'The longest answer span considered, in tokens (the pipeline’s max_answer_len).' },
  truncated: { unit: 'count', better: 'none', description: 'Questions whose context was cut to fit the model’s maximum length (only the context is truncated).' },
  exactMatchVsFp32: { unit: 'ratio', better: 'higher', description: 'SQuAD exact match of INT8’s answers, with FP32’s answers as the gold.' },
  f1VsFp32: { unit: 'ratio', better: 'higher', description: 'SQuAD token F1 of INT8’s answers, with FP32’s answers as the gold (mean over questions).' },
  sameSpan: { unit: 'ratio', better: 'higher', description: 'Share of questions where INT8 chose exactly FP32’s character span.' },
  fp32ExactMatch: { unit: 'ratio', better: 'higher', description: 'Gold: SQuAD exact match of FP32’s answers (best over each question’s gold answers); null without gold answers.' },
  fp32F1: { unit: 'ratio', better: 'higher', description: 'Gold: SQuAD token F1 of FP32’s answers; null without gold answers.' },
  int8ExactMatch: { unit: 'ratio', better: 'higher', description: 'Gold: SQuAD exact match of INT8’s answers; null without gold answers.' },
  int8F1: { unit: 'ratio', better: 'higher', description: 'Gold: SQuAD token F1 of INT8’s answers; null without gold answers.' },
  meanCosine: { unit: 'number', better: 'higher', description: 'Mean over questions of the cosine of INT8’s and FP32’s start and end logits (real tokens).' },
  minCosine: { unit: 'number', better: 'higher', description: 'Smallest such cosine.' },
  maxAbsError: { unit: 'number', better: 'lower', description: 'Largest |INT8 − FP32| over the start and end logits of real tokens.' },
  output: { type: 'text', description: 'The graph outputs read as the span logits.' },
};
