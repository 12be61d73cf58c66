// The decode loop (generate.ts) on small seeded decoders of both families exported by onnx.export's
// decoder builder (every weight, bias and norm random): greedy tokens with the KV cache equal the
// tokens of recomputing the whole sequence at every step without a cache; a left-padded batch
// gives every row the tokens it gets alone; a row stops at eos and is then fed padding; a graph
// without a cache is refused by name; perplexity from one full pass equals the NLL summed over
// cached single-token steps.
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QrunError } from '../../errors.ts';
import { parseDecoderConfig } from '../../export/decoder/decoder-config.ts';
import { exportDecoder } from '../../export/decoder/export-decoder.ts';
import { AllRandomWeights } from '../../export/decoder/testing.ts';
import { encodeModel } from '../../onnx/model-io.ts';
import { createSession } from '../../runtime/session.ts';
import { writeTinyClassifier } from '../../../plugins/trtexec/testing/tiny-onnx.ts';
import { decoderIo, generate, generateWithoutCache, leftPadded, type DecoderIo } from './generate.ts';
import { fullLogits, sequenceNll, tokenNll } from './perplexity.ts';

const TINY: Record<string, Record<string, unknown>> = {
  gpt2: { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: 97, n_embd: 32, n_layer: 2, n_head: 4, n_positions: 64 },
  // Grouped-query attention: 4 heads over 2 KV heads.
  llama: {
    model_type: 'llama', architectures: ['LlamaForCausalLM'], vocab_size: 101, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, rope_theta: 500, tie_word_embeddings: false,
  },
};

const prompt = (n: number, vocab: number, salt: number) => Array.from({ length: n }, (_, i) => (i * 37 + salt * 11 + 3) % vocab);

describe('leftPadded', () => {
  it('pads on the left with mask 0 and position ids cumsum(mask) − 1, the padding at 1 (as transformers)', () => {
    expect(leftPadded([[7, 8, 9], [5]], 0)).toEqual({ ids: [7, 8, 9, 0, 0, 5], mask: [1, 1, 1, 0, 0, 1], positions: [0, 1, 2, 1, 1, 0], width: 3 });
  });
});

describe.each(Object.keys(TINY))('greedy decoding with the KV cache on a seeded %s decoder', (family) => {
  let session: ort.InferenceSession;
  let io: DecoderIo;
  let vocab: number;
  beforeAll(async () => {
    const cfg = parseDecoderConfig(TINY[family]!, 'config.json');
    vocab = cfg.vocabSize;
    const { model } = await exportDecoder(cfg, new AllRandomWeights(3, 0.2));
    session = await createSession(encodeModel(model), { intraOpThreads: 1 });
    io = decoderIo(session, 'the test model');
  });
  afterAll(() => session?.release());

  it('reads the cache layout from the graph', () => {
    expect(io.past).toHaveLength(2);
    expect(io.present[1]).toEqual({ key: 'present.1.key', value: 'present.1.value' });
    expect([io.kvHeads, io.hasPositionIds]).toEqual([family === 'llama' ? 2 : 4, true]);
  });

  it('gives the tokens of recomputing the whole sequence at every step without a cache', async () => {
    for (const [n, salt] of [[5, 1], [9, 2], [1, 3]] as const) {
      const p = prompt(n, vocab, salt);
      const cached = await generate(session, io, [p], { newTokens: 12, padId: 0 });
      const recomputed = await generateWithoutCache(session, io, p, 12);
      expect(cached.tokens[0], `prompt of ${n}`).toEqual(recomputed);
      // The tokens are not one repeated id: the comparison has something to tell apart.
      expect(new Set(recomputed).size, `prompt of ${n}`).toBeGreaterThan(2);
      expect(cached.stepMs).toHaveLength(11);
    }
  });

  it('a left-padded batch gives every row the tokens it gets alone', async () => {
    const rows = [prompt(8, vocab, 4), prompt(3, vocab, 5), prompt(6, vocab, 6)];
    const batched = await generate(session, io, rows, { newTokens: 10, padId: 0 });
    for (const [r, p] of rows.entries()) expect(batched.tokens[r], `row ${r}`).toEqual((await generate(session, io, [p], { newTokens: 10, padId: 0 })).tokens[0]);
  });

  it('stops a row at eos (kept), the others go on', async () => {
    const p = prompt(5, vocab, 7);
    const free = (await generate(session, io, [p, prompt(4, vocab, 8)], { newTokens: 8, padId: 0 })).tokens;
    const eos = free[0]![2]!; // the third token of row 0 becomes its eos
    const stopped = (await generate(session, io, [p, prompt(4, vocab, 8)], { newTokens: 8, padId: 0, eosId: eos })).tokens;
    expect(stopped[0]).toEqual(free[0]!.slice(0, free[0]!.indexOf(eos) + 1));
    const other = free[1]!.indexOf(eos);
    expect(stopped[1]).toEqual(other >= 0 ? free[1]!.slice(0, other + 1) : free[1]);
  });

  it('perplexity from one full pass = the NLL of cached single-token steps', async () => {
    const ids = prompt(12, vocab, 9);
    const full = await fullLogits(session, io, ids);
    const { nll, count } = sequenceNll(full.data, full.vocab, ids);
    expect(count).toBe(11);
    // The same next-token NLLs, one token at a time through the cache.
    let stepped = 0;
    let feeds: Record<string, ort.Tensor> = {};
    for (const p of io.past) {
      feeds[p.key] = new ort.Tensor('float32', new Float32Array(0), [1, io.kvHeads, 0, io.headDim]);
      feeds[p.value] = new ort.Tensor('float32', new Float32Array(0), [1, io.kvHeads, 0, io.headDim]);
    }
    const t = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v, BigInt), [1, v.length]);
    for (let i = 0; i < ids.length - 1; i++) {
      const out = await session.run({ ...feeds, input_ids: t([ids[i]!]), attention_mask: t(Array<number>(i + 1).fill(1)), position_ids: t([i]) });
      stepped += tokenNll(out.logits!.data as Float32Array, ids[i + 1]!);
      feeds = Object.fromEntries(io.past.flatMap((p, l) => [[p.key, out[io.present[l]!.key]!], [p.value, out[io.present[l]!.value]!]]));
    }
    expect(Math.abs(nll - stepped) / stepped).toBeLessThan(1e-5);
  });
});

describe('decoderIo', () => {
  it('refuses a graph without a KV cache, naming what is missing (DECODER_GRAPH)', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const file = await writeTinyClassifier(mkdtempSync(join(tmpdir(), 'qrun-gen-')));
    const session = await createSession(file);
    let error: unknown;
    try {
      decoderIo(session, 'the FP32 model');
    } catch (e) {
      error = e;
    }
    await session.release();
    expect(error).toBeInstanceOf(QrunError);
    const d = (error as QrunError).diagnostics[0]!;
    expect(d.code).toBe('DECODER_GRAPH');
    expect(d.message).toContain('the FP32 model');
    expect(d.message).toContain('past_key_values.0.key');
    expect(d.hint).toContain('onnx.export');
  });
});
