// Perplexity of a decoder on token sequences, each run as one prefill (src/quant/weight-only/
// decoder-feeds.ts): exp of the mean negative log-likelihood of every next token, over all sequences.
// Log-softmax in float64. Used to measure weight-only quantization (tests, docs/quantization.md).
import type ort from 'onnxruntime-node';
import { errors } from '../../errors.ts';
import type { DecoderInputs } from './decoder-feeds.ts';
import { prefillFeeds } from './decoder-feeds.ts';

export interface PerplexityResult {
  perplexity: number;
  meanNll: number;
  tokens: number;
}

export async function perplexity(session: ort.InferenceSession, d: DecoderInputs, sequences: number[][], output = 'logits'): Promise<PerplexityResult> {
  let nll = 0;
  let tokens = 0;
  for (const ids of sequences) {
    if (ids.length < 2) continue;
    const feeds = prefillFeeds(d, ids);
    const out = await session.run(feeds, [output]);
    const logits = out[output];
    if (!logits) throw errors.usage(`the decoder has no output "${output}"`);
    const data = logits.data as Float32Array;
    const V = logits.dims[logits.dims.length - 1]!;
    for (let t = 0; t + 1 < ids.length; t++) {
      const row = t * V;
      let max = -Infinity;
      for (let v = 0; v < V; v++) if (data[row + v]! > max) max = data[row + v]!;
      let sum = 0;
      for (let v = 0; v < V; v++) sum += Math.exp(data[row + v]! - max);
      nll += Math.log(sum) + max - data[row + ids[t + 1]!]!;
      tokens++;
    }
    for (const t of Object.values(out)) t.dispose?.();
  }
  if (tokens === 0) throw errors.usage('perplexity: no sequence has two tokens or more');
  return { perplexity: Math.exp(nll / tokens), meanNll: nll / tokens, tokens };
}
