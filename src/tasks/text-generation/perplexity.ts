// Perplexity on held-out text, with the definition of models/gpt-debian/reference.json (G1's PyTorch
// reference, scripts/make-gpt-model/train_gpt.py): for each text, ids = the tokenizer's ids without
// special tokens, cut to the model's first n_positions; the model runs once on them (batch 1, no
// padding, empty past); NLL = −Σ_{i=1..n−1} log softmax(logits[i−1])[ids[i]]; perplexity =
// exp(Σ NLL over all texts ÷ Σ (n − 1)). Token-weighted over the set, not a mean of per-text
// perplexities. The log-softmax is taken in float64 from the float32 logits, as the reference does.
//
// The same pass compares the quantized model's next-token logits with FP32's (cosine, max |Δ|).
import ort from 'onnxruntime-node';
import { emptyPast, type DecoderIo } from './generate.ts';

/** −log softmax(row)[target], in float64. */
export function tokenNll(row: ArrayLike<number>, target: number): number {
  let max = -Infinity;
  for (let v = 0; v < row.length; v++) if (row[v]! > max) max = row[v]!;
  let sum = 0;
  for (let v = 0; v < row.length; v++) sum += Math.exp(row[v]! - max);
  return Math.log(sum) + max - row[target]!;
}

/** Σ NLL of ids[1..n−1] from the logits [n, vocab] of ids[0..n−1]; n − 1 predictions. */
export function sequenceNll(logits: Float32Array, vocab: number, ids: number[]): { nll: number; count: number } {
  let nll = 0;
  for (let i = 1; i < ids.length; i++) nll += tokenNll(logits.subarray((i - 1) * vocab, i * vocab), ids[i]!);
  return { nll, count: Math.max(0, ids.length - 1) };
}

/** The logits [n, vocab] of one text run whole (batch 1, no padding, empty past). */
export async function fullLogits(session: ort.InferenceSession, io: DecoderIo, ids: number[]): Promise<{ data: Float32Array; vocab: number }> {
  const n = ids.length;
  const t = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v, (x) => BigInt(x)), [1, n]);
  const feeds: Record<string, ort.Tensor> = { ...emptyPast(io, 1), input_ids: t(ids), attention_mask: t(ids.map(() => 1)) };
  if (io.hasPositionIds) feeds.position_ids = t(ids.map((_, j) => j));
  const logits = (await session.run(feeds))[io.logits]!;
  return { data: logits.data as Float32Array, vocab: logits.dims[2]! };
}

/** One model's perplexity over `texts` (ids), with each text's NLL sum and predictions. */
export async function perplexityOf(model: { session: ort.InferenceSession; io: DecoderIo }, texts: number[][]): Promise<{ perplexity: number; nll: number[]; count: number[] }> {
  const nll: number[] = [];
  const count: number[] = [];
  for (const ids of texts) {
    if (ids.length < 2) continue;
    const f = await fullLogits(model.session, model.io, ids);
    const s = sequenceNll(f.data, f.vocab, ids);
    nll.push(s.nll);
    count.push(s.count);
  }
  const total = count.reduce((a, b) => a + b, 0);
  return { perplexity: Math.exp(nll.reduce((a, b) => a + b, 0) / total), nll, count };
}

export interface PerplexityPair {
  texts: number;
  tokens: number;
  fp32: number;
  int8: number;
  /** Over every predicted position: cosine of the two models' logit rows, and the largest |Δ|. */
  meanCosine: number;
  minCosine: number;
  maxAbsError: number;
}

/** Perplexity of both models over `texts` (ids; those with fewer than 2 tokens predict nothing and are left out). */
export async function perplexityPair(
  fp32: { session: ort.InferenceSession; io: DecoderIo },
  int8: { session: ort.InferenceSession; io: DecoderIo },
  texts: number[][],
  progress?: (done: number, total: number) => void,
  signal?: AbortSignal,
): Promise<PerplexityPair> {
  let [nllF, nllQ, count, used] = [0, 0, 0, 0];
  let [cosSum, cosMin, maxAbs, rows] = [0, 1, 0, 0];
  for (const [k, ids] of texts.entries()) {
    if (signal?.aborted) throw new Error('interrupted');
    if (ids.length < 2) continue;
    const f = await fullLogits(fp32.session, fp32.io, ids);
    const q = await fullLogits(int8.session, int8.io, ids);
    const a = sequenceNll(f.data, f.vocab, ids);
    const b = sequenceNll(q.data, q.vocab, ids);
    nllF += a.nll;
    nllQ += b.nll;
    count += a.count;
    used += 1;
    for (let i = 0; i < ids.length - 1; i++) {
      let [dot, nf, nq] = [0, 0, 0];
      for (let v = i * f.vocab; v < (i + 1) * f.vocab; v++) {
        const x = f.data[v]!;
        const y = q.data[v]!;
        dot += x * y;
        nf += x * x;
        nq += y * y;
        const d = Math.abs(x - y);
        if (d > maxAbs) maxAbs = d;
      }
      const c = nf > 0 && nq > 0 ? dot / Math.sqrt(nf * nq) : nf === nq ? 1 : 0;
      cosSum += c;
      cosMin = Math.min(cosMin, c);
      rows += 1;
    }
    progress?.(k + 1, texts.length);
  }
  return {
    texts: used,
    tokens: count,
    fp32: Math.exp(nllF / count),
    int8: Math.exp(nllQ / count),
    meanCosine: rows ? cosSum / rows : 1,
    minCosine: rows ? cosMin : 1,
    maxAbsError: maxAbs,
  };
}
