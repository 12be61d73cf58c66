// python/question_answering.py's span choice (best_span, widen_to_words: what the served answer model
// runs) against qrun's TypeScript one (src/tasks/question-answering/spans.ts: what bench scores), on
// 300 random logit rows with random context windows, answer lengths and word groupings: the same
// start, end, characters and score. The tokenization around them is compared with the Python
// tokenizers library on the GPU machine (src/data/pair-encoder.test.ts).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bestSpan, spanText } from '../../src/tasks/question-answering/spans.ts';

const MODEL_PY = fileURLToPath(new URL('./python/question_answering.py', import.meta.url));
const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

const SCRIPT = `
import importlib.util, json, sys
import numpy as np
spec = importlib.util.spec_from_file_location("qa", sys.argv[1])
qa = importlib.util.module_from_spec(spec); spec.loader.exec_module(qa)
rng = np.random.default_rng(20261201)
out = []
for k in range(300):
    n = int(rng.integers(6, 60)); c0 = int(rng.integers(2, min(8, n - 2))); c1 = int(rng.integers(c0 + 1, n))
    start = rng.normal(0, 2 + k % 5, n).round(4); end = rng.normal(0, 2 + k % 5, n).round(4)
    if k % 7 == 0: start[c0 + 1 if c0 + 1 < c1 else c0] = end[c0] = 30.0   # a confident answer
    max_len = int(rng.integers(1, 12))
    seq = [-1] + [0] * (c0 - 2) + [-1] + [1] * (c1 - c0) + [-1] * (n - c1)
    words, w = [], -1
    for i in range(n):
        if seq[i] != 1 or rng.random() < 0.6 or not words or words[-1] is None: w += 1
        words.append(w if seq[i] == 1 else None)
    offsets = [(0, 0)] * n
    pos = 0
    for i in range(c0, c1):
        ln = int(rng.integers(1, 6)); offsets[i] = (pos, pos + ln); pos += ln + int(rng.integers(0, 2))
    s, e, score = qa.best_span(start, end, list(range(c0, c1)), max_len)
    a, b = qa.widen_to_words(s, e, words, offsets, seq)
    out.append({"start": start.tolist(), "end": end.tolist(), "c0": c0, "c1": c1, "n": n, "max_len": max_len,
                "words": [words[i] for i in range(c0, c1)], "offsets": [list(offsets[i]) for i in range(c0, c1)],
                "py": {"s": s, "e": e, "score": score, "a": a, "b": b}})
print(json.dumps(out))
`;

// skip-reason: python3 has no numpy here, and question_answering.py needs it.
describe.skipIf(!hasNumpy)('question_answering.py span choice against the TypeScript one', () => {
  it('gives the same span, characters and score on 300 random cases', () => {
    const r = spawnSync('python3', ['-c', SCRIPT, MODEL_PY], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(r.status, r.stderr).toBe(0);
    const cases = JSON.parse(r.stdout) as { start: number[]; end: number[]; c0: number; c1: number; n: number; max_len: number; words: number[]; offsets: [number, number][]; py: { s: number; e: number; score: number; a: number; b: number } }[];
    expect(cases).toHaveLength(300);
    const context = 'x'.repeat(1000);
    const differ = cases.flatMap((c, k) => {
      const span = bestSpan({ start: c.start, end: c.end, contextStart: c.c0, contextLength: c.c1 - c.c0, maxAnswerTokens: c.max_len }, c.n);
      const text = spanText(span, c.c0, c.offsets, context, c.words);
      const same = span.start === c.py.s && span.end === c.py.e && text.start === c.py.a && text.end === c.py.b && Math.abs(span.score - c.py.score) < 1e-9;
      return same ? [] : [{ k, ts: [span.start, span.end, text.start, text.end, span.score], py: c.py }];
    });
    expect(differ).toEqual([]);
    // The cases exercise widening: in some, the characters go past the chosen tokens' own.
    expect(cases.filter((c) => c.py.a < c.offsets[c.py.s - c.c0]![0] || c.py.b > c.offsets[c.py.e - c.c0]![1]).length).toBeGreaterThan(20);
  });
});
