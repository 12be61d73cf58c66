// SQuAD's answer comparison, as its official evaluate-v1.1.py (and the `squad` metric of
// Hugging Face evaluate) defines it: answers are normalized — lower case, punctuation removed
// (string.punctuation: the 32 ASCII marks), the articles a/an/the removed, whitespace collapsed —
// then exact match is string equality, and F1 is over the multiset of whitespace tokens:
// 2·P·R/(P+R) with P = common/|prediction|, R = common/|gold|, 0 when nothing is in common.
// Against several gold answers a prediction takes its best score.

const PUNCTUATION = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');

export function normalizeAnswer(s: string): string {
  let out = '';
  for (const ch of s.toLowerCase()) if (!PUNCTUATION.has(ch)) out += ch;
  // Python's \b(a|an|the)\b with str patterns: \b between a word character ([\w], Unicode) and not.
  out = out.replace(/(?<![\p{L}\p{N}_])(a|an|the)(?![\p{L}\p{N}_])/gu, ' ');
  return out.split(/\s+/u).filter(Boolean).join(' ');
}

export function exactMatch(prediction: string, gold: string): number {
  return normalizeAnswer(prediction) === normalizeAnswer(gold) ? 1 : 0;
}

export function f1Score(prediction: string, gold: string): number {
  const p = normalizeAnswer(prediction).split(' ').filter(Boolean);
  const g = normalizeAnswer(gold).split(' ').filter(Boolean);
  const counts = new Map<string, number>();
  for (const t of g) counts.set(t, (counts.get(t) ?? 0) + 1);
  let same = 0;
  for (const t of p) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      same++;
      counts.set(t, c - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / p.length;
  const recall = same / g.length;
  return (2 * precision * recall) / (precision + recall);
}

/** The best score of `prediction` over the gold answers (SQuAD's metric_max_over_ground_truths). */
export function bestOver(score: (p: string, g: string) => number, prediction: string, golds: string[]): number {
  return golds.reduce((m, g) => Math.max(m, score(prediction, g)), 0);
}
