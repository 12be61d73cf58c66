// How far the quantized model's greedy continuation follows FP32's, over the first N generated
// tokens of each prompt. Greedy decoding conditions every token on the earlier ones, so after the
// first token where the two differ the rest are continuations of different texts and compare
// nothing: a prompt scores the share of its N positions equal before that first difference (its
// "prefix agreement"), and an exact match when all N are equal. Position-wise equality after a
// divergence would reward chance re-alignments.

export interface PromptAgreement {
  /** Index of the first position where the two differ; n when none does. */
  firstDivergence: number;
  /** firstDivergence ÷ n. */
  prefix: number;
  exact: boolean;
}

/** One prompt: `reference` and `candidate` compared over their first `n` tokens (a missing token differs). */
export function promptAgreement(reference: readonly number[], candidate: readonly number[], n: number): PromptAgreement {
  if (n <= 0) return { firstDivergence: 0, prefix: 1, exact: true };
  let i = 0;
  while (i < n && i < reference.length && i < candidate.length && reference[i] === candidate[i]) i++;
  // Both stopped (eos) at the same place before n: the continuations are equal.
  if (i < n && i === reference.length && i === candidate.length) i = n;
  return { firstDivergence: i, prefix: i / n, exact: i === n };
}

export interface SetAgreement {
  /** Mean over prompts of the prefix agreement. */
  tokenAgreement: number;
  /** Share of prompts equal over all n tokens. */
  exactMatch: number;
  firstDivergence: number[];
}

export function setAgreement(reference: readonly (readonly number[])[], candidate: readonly (readonly number[])[], n: number): SetAgreement {
  const per = reference.map((r, k) => promptAgreement(r, candidate[k] ?? [], n));
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 1);
  return {
    tokenAgreement: mean(per.map((p) => p.prefix)),
    exactMatch: mean(per.map((p) => (p.exact ? 1 : 0))),
    firstDivergence: per.map((p) => p.firstDivergence),
  };
}
