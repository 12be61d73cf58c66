// bench's evaluation for extractive QA: both models score every evaluation question's start and end
// positions, each picks its answer span as transformers' pipeline does (spans.ts), and the answers
// are compared with SQuAD's exact match and F1 — INT8 against FP32's answers, and each against the
// gold answers where the data has them.
import type ort from 'onnxruntime-node';
import type { TaskEvaluation, TaskScores } from '../task.ts';
import { MAX_ANSWER_TOKENS, QA_END_OUTPUT, QA_START_OUTPUT } from './outputs.ts';
import { isQaDataset, type QaSample } from './data.ts';
import { qaErrors } from './errors.ts';
import { bestOver, exactMatch, f1Score } from './squad.ts';
import { bestSpan, spanText } from './spans.ts';

export { MAX_ANSWER_TOKENS };

export interface QaAnswer {
  text: string;
  start: number;
  end: number;
  score: number;
}

/** The answer one model gives to one question from its logits rows (length ≥ the sample's). */
export function answerOf(sample: QaSample, start: ArrayLike<number>, end: ArrayLike<number>, maxAnswerTokens = MAX_ANSWER_TOKENS): QaAnswer {
  const { qa } = sample;
  const span = bestSpan({ start, end, contextStart: qa.contextStart, contextLength: qa.contextOffsets.length, maxAnswerTokens }, sample.ids.length);
  return { ...spanText(span, qa.contextStart, qa.contextOffsets, qa.context, qa.contextWords), score: span.score };
}

export function spanOutputs(session: ort.InferenceSession, which: string): [string, string] {
  const names = session.outputNames;
  if (!names.includes(QA_START_OUTPUT) || !names.includes(QA_END_OUTPUT)) throw qaErrors.outputsMissing(which, names);
  return [QA_START_OUTPUT, QA_END_OUTPUT];
}

function row(t: ort.Tensor, r: number, n: number): Float32Array {
  const seq = t.dims[1]!;
  return (t.data as Float32Array).subarray(r * seq, r * seq + n);
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

export async function evaluateQuestionAnswering(run: TaskEvaluation): Promise<TaskScores> {
  if (!isQaDataset(run.dataset)) throw qaErrors.noContext('the evaluation set');
  const samples = run.dataset.samples;
  const [rs, re] = spanOutputs(run.fp32, 'the FP32 model');
  const [cs, ce] = spanOutputs(run.int8, 'the INT8 model');
  const n = run.fp32Batches.samples;
  const fp32: QaAnswer[] = new Array(n);
  const int8: QaAnswer[] = new Array(n);
  const cosines: number[] = new Array(n);
  let maxAbsError = 0;
  const batches = run.fp32Batches.batches;
  for (let b = 0; b < batches.length; b++) {
    if (run.signal.aborted) throw new Error('interrupted');
    const rb = batches[b]!;
    const r = await run.fp32.run(rb.feeds());
    const c = await run.int8.run(run.int8Batches.batches[b]!.feeds());
    rb.indices.forEach((i, k) => {
      const sample = samples[i]!;
      const len = sample.ids.length;
      const [r0, r1, c0, c1] = [row(r[rs]!, k, len), row(r[re]!, k, len), row(c[cs]!, k, len), row(c[ce]!, k, len)];
      fp32[i] = answerOf(sample, r0, r1);
      int8[i] = answerOf(sample, c0, c1);
      let dot = 0;
      let nr = 0;
      let nc = 0;
      for (const [x, y] of [
        [r0, c0],
        [r1, c1],
      ] as const) {
        for (let j = 0; j < len; j++) {
          dot += x[j]! * y[j]!;
          nr += x[j]! * x[j]!;
          nc += y[j]! * y[j]!;
          maxAbsError = Math.max(maxAbsError, Math.abs(x[j]! - y[j]!));
        }
      }
      cosines[i] = nr > 0 && nc > 0 ? dot / Math.sqrt(nr * nc) : nr === nc ? 1 : 0;
    });
    run.progress(`answers: batch ${b + 1}/${batches.length}`, b + 1, batches.length);
  }
  const used: QaSample[] = samples.slice(0, n);
  const withGold = used.map((s, i) => [s, i] as const).filter(([s]) => s.qa.answers.length > 0);
  const gold = (answers: QaAnswer[], score: (p: string, g: string) => number) =>
    withGold.length ? mean(withGold.map(([s, i]) => bestOver(score, answers[i]!.text, s.qa.answers))) : null;
  const metrics = {
    questions: n,
    maxAnswerTokens: MAX_ANSWER_TOKENS,
    truncated: used.filter((s) => s.qa.truncated > 0).length,
    exactMatchVsFp32: mean(int8.map((a, i) => exactMatch(a.text, fp32[i]!.text))),
    f1VsFp32: mean(int8.map((a, i) => f1Score(a.text, fp32[i]!.text))),
    sameSpan: mean(int8.map((a, i) => (a.start === fp32[i]!.start && a.end === fp32[i]!.end ? 1 : 0))),
    fp32ExactMatch: gold(fp32, exactMatch),
    fp32F1: gold(fp32, f1Score),
    int8ExactMatch: gold(int8, exactMatch),
    int8F1: gold(int8, f1Score),
    meanCosine: mean(cosines),
    minCosine: cosines.length ? Math.min(...cosines) : 0,
    maxAbsError,
    output: `${rs}, ${re}`,
  };
  return {
    metrics,
    headline: {
      agreement: metrics.exactMatchVsFp32,
      fp32Accuracy: metrics.fp32F1,
      int8Accuracy: metrics.int8F1,
      meanCosine: metrics.meanCosine,
      minCosine: metrics.minCosine,
      maxAbsError,
    },
  };
}
