// qrun's generation numbers on the shipped models/gpt-debian against G1's PyTorch reference
// (models/gpt-debian/reference.json, scripts/make-gpt-model/train_gpt.py: transformers 5.17, float32,
// eager attention): the evaluation texts read as hf.load reads them (data.ts) give the reference's
// perplexity within 1e-3 relative and its token count; the KV-cache decode loop gives the reference's
// greedy tokens for every prompt, alone and in its left-padded batch.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../data/tokenizer.ts';
import { parseDecoderConfig } from '../../export/decoder/decoder-config.ts';
import { exportDecoder } from '../../export/decoder/export-decoder.ts';
import { CheckpointWeights } from '../../export/weight-source.ts';
import { encodeModel } from '../../onnx/model-io.ts';
import { createSession } from '../../runtime/session.ts';
import { Checkpoint } from '../../safetensors/index.ts';
import { tokenizeGenerationData } from './data.ts';
import { decoderIo, generate, type DecoderIo } from './generate.ts';
import { perplexityOf } from './perplexity.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const MODEL = join(REPO, 'models/gpt-debian');

interface Reference {
  prompts: { input_ids: number[][]; greedy_ids: number[] }[];
  batch: { input_ids: number[][]; attention_mask: number[][]; pad_token_id: number; greedy_ids: number[][] };
  eval_perplexity: { texts: number; predicted_tokens: number; perplexity: number; per_text_nll_sum: number[]; per_text_count: number[] };
}

describe('models/gpt-debian against its PyTorch reference', () => {
  const reference = JSON.parse(readFileSync(join(MODEL, 'reference.json'), 'utf8')) as Reference;
  const config = JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8')) as Record<string, unknown>;
  let session: ort.InferenceSession;
  let io: DecoderIo;
  beforeAll(async () => {
    const checkpoint = await Checkpoint.open(MODEL);
    try {
      const { model } = await exportDecoder(parseDecoderConfig(config, join(MODEL, 'config.json')), new CheckpointWeights(checkpoint));
      session = await createSession(encodeModel(model), { intraOpThreads: 1 });
    } finally {
      await checkpoint.close();
    }
    io = decoderIo(session, 'gpt-debian');
  });
  afterAll(() => session?.release());

  it('perplexity on data/gpt-debian/eval.jsonl = the reference within 1e-3 relative (same texts, same token count)', async () => {
    const tokenizer = await loadTokenizer(join(MODEL, 'tokenizer.json'), join(MODEL, 'tokenizer_config.json'));
    const data = await tokenizeGenerationData(join(REPO, 'data/gpt-debian/eval.jsonl'), tokenizer, 'evaluation', { dir: MODEL, config });
    const ppl = await perplexityOf({ session, io }, data.samples.map((s) => s.ids));
    const ref = reference.eval_perplexity;
    expect(ppl.count).toEqual(ref.per_text_count);
    expect(ppl.count.reduce((a, b) => a + b, 0)).toBe(ref.predicted_tokens);
    const rel = Math.abs(ppl.perplexity - ref.perplexity) / ref.perplexity;
    console.log(`gpt-debian perplexity: qrun ${ppl.perplexity.toFixed(6)}, PyTorch ${ref.perplexity} (relative difference ${rel.toExponential(2)})`);
    expect(rel).toBeLessThan(1e-3);
    // Tighter than the 1e-3: float32 logits against PyTorch's differ by ~5e-6 (measured 6e-10 relative
    // here), while a mean of per-text perplexities instead of the token-weighted one is 3.6e-5 off even on
    // this model, and each text's NLL sum is the reference's.
    expect(rel).toBeLessThan(1e-5);
    ppl.nll.forEach((v, i) => expect(Math.abs(v - ref.per_text_nll_sum[i]!) / ref.per_text_nll_sum[i]!, `text ${i}`).toBeLessThan(1e-5));
  });

  it('greedy tokens with the KV cache = the reference\'s, alone and in a left-padded batch', async () => {
    for (const [k, p] of reference.prompts.entries()) {
      const g = await generate(session, io, [p.input_ids[0]!], { newTokens: p.greedy_ids.length, padId: 0 });
      expect(g.tokens[0], `prompt ${k}`).toEqual(p.greedy_ids);
    }
    const b = reference.batch;
    const rows = b.input_ids.map((r, i) => r.filter((_, j) => b.attention_mask[i]![j] === 1));
    const g = await generate(session, io, rows, { newTokens: b.greedy_ids[0]!.length, padId: b.pad_token_id });
    expect(g.tokens).toEqual(b.greedy_ids);
  });
});
