// The answer span transformers' question-answering pipeline chooses from start/end logits
// (QuestionAnsweringPipeline.postprocess → select_starts_ends → decode_spans):
//   - positions that cannot hold an answer (question tokens, special tokens, padding) are set to
//     −10000 before a softmax over the sequence; the first token ([CLS]) stays in the softmax (the
//     pipeline unmasks it for unanswerable questions) and is then zeroed out of the answers;
//   - the span is argmax over start ≤ end < start + max_answer_len of p_start[s]·p_end[e], ties to
//     the first in row-major order (np.argmax over the flattened upper band), and only spans whose
//     both ends are context tokens count;
//   - the text is context[offsets[start].start : offsets[end].end], the score the probability product.
// Products of softmax probabilities order spans as sums of logits do; the scan below compares the
// product the pipeline computes, so ties and rounding fall as they do there.

export interface SpanInput {
  start: ArrayLike<number>;
  end: ArrayLike<number>;
  /** Index of the first context token, and how many there are (they are contiguous). */
  contextStart: number;
  contextLength: number;
  maxAnswerTokens: number;
}

export interface Span {
  /** Token indices, inclusive. */
  start: number;
  end: number;
  score: number;
}

const UNDESIRED = -10000;

function softmaxOver(logits: ArrayLike<number>, keep: (i: number) => boolean, n: number): Float64Array {
  const v = new Float64Array(n);
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    v[i] = keep(i) ? logits[i]! : UNDESIRED;
    if (v[i]! > max) max = v[i]!;
  }
  let sum = 0;
  for (let i = 0; i < n; i++) sum += v[i] = Math.exp(v[i]! - max);
  for (let i = 0; i < n; i++) v[i]! /= sum;
  return v;
}

/** `n` is the sequence's real length (no padding). */
export function bestSpan(input: SpanInput, n: number): Span {
  const { contextStart: c0, contextLength } = input;
  const c1 = c0 + contextLength;
  const keep = (i: number) => i === 0 || (i >= c0 && i < c1);
  const ps = softmaxOver(input.start, keep, n);
  const pe = softmaxOver(input.end, keep, n);
  ps[0] = 0;
  pe[0] = 0;
  let best: Span = { start: c0, end: c0, score: -1 };
  for (let s = c0; s < c1; s++) {
    const last = Math.min(c1 - 1, s + input.maxAnswerTokens - 1);
    for (let e = s; e <= last; e++) {
      const p = ps[s]! * pe[e]!;
      if (p > best.score) best = { start: s, end: e, score: p };
    }
  }
  return best;
}

/**
 * The answer's text and its [start, end) in the context. With `words` (each context token's word
 * index) the span widens to whole words, as the pipeline's default align_to_words does: from the
 * start of the start token's word to the end of the end token's word.
 */
export function spanText(span: Span, contextStart: number, offsets: [number, number][], context: string, words?: number[]): { text: string; start: number; end: number } {
  let a = span.start - contextStart;
  let b = span.end - contextStart;
  if (words) {
    while (a > 0 && words[a - 1] === words[a]) a--;
    while (b + 1 < words.length && words[b + 1] === words[b]) b++;
  }
  const start = offsets[a]![0];
  const end = offsets[b]![1];
  return { text: context.slice(start, end), start, end };
}
