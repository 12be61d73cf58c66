// The decoder graphs through onnxruntime-node on small seeded models of each family (every weight,
// bias and norm random): one graph serves prefill and decode (a prefill of N tokens gives the logits
// of a prefill of N − k then k single-token steps fed back their present tensors), a left-padded
// batch gives each row the logits it has alone, Mistral's sliding window hides what it should, the
// cache layout is the contract's, and the same inputs give the same bytes.
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeModel } from '../../onnx/model-io.ts';
import { createSession } from '../../runtime/session.ts';
import { parseDecoderConfig, type DecoderConfig } from './decoder-config.ts';
import { exportDecoder } from './export-decoder.ts';
import { AllRandomWeights, emptyCache, leftPad, logitsAt, maxAbsDiff, step, type StepResult } from './testing.ts';

const TINY: Record<string, Record<string, unknown>> = {
  gpt2: { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: 97, n_embd: 32, n_layer: 2, n_head: 4, n_positions: 64 },
  // Grouped-query attention (4 heads over 2 KV heads), head_dim given and ≠ hidden / heads, untied head.
  llama: {
    model_type: 'llama', architectures: ['LlamaForCausalLM'], vocab_size: 101, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, head_dim: 12, rope_theta: 500, tie_word_embeddings: false, attention_bias: true, mlp_bias: true,
  },
  // q/k/v biases, tied head, multi-query (1 KV head), transformers 5's rope_parameters.
  qwen2: {
    model_type: 'qwen2', architectures: ['Qwen2ForCausalLM'], vocab_size: 89, hidden_size: 24, intermediate_size: 40, num_hidden_layers: 2,
    num_attention_heads: 3, num_key_value_heads: 1, tie_word_embeddings: true, rope_parameters: { rope_type: 'default', rope_theta: 1000 },
  },
};

async function build(raw: Record<string, unknown>, seed = 1): Promise<{ cfg: DecoderConfig; bytes: Uint8Array }> {
  const cfg = parseDecoderConfig(raw, 'config.json');
  const { model } = await exportDecoder(cfg, new AllRandomWeights(seed, 0.2));
  return { cfg, bytes: encodeModel(model) };
}

// A token sequence per row, deterministic.
const tokens = (n: number, vocab: number, salt: number) => Array.from({ length: n }, (_, i) => (i * 37 + salt * 11 + 3) % vocab);
const ones = (n: number) => Array<number>(n).fill(1);
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe.each(Object.keys(TINY))('native %s decoder with a KV cache through onnxruntime', (family) => {
  let cfg: DecoderConfig;
  let bytes: Uint8Array;
  let session: ort.InferenceSession;
  beforeAll(async () => {
    ({ cfg, bytes } = await build(TINY[family]!));
    session = await createSession(bytes, { intraOpThreads: 1 });
  });
  afterAll(() => session?.release());

  it('has the contract layout: input_ids, attention_mask, position_ids, past_key_values.{i}.key/value → logits, present.{i}.key/value; opset 21', async () => {
    const { model } = await exportDecoder(cfg, new AllRandomWeights(1, 0.2));
    expect(model.opsetImport).toEqual([{ domain: '', version: 21 }]);
    const dims = (v: (typeof model.graph.input)[number]) => [v.name, ...v.type!.tensorType!.shape!.dim.map((d) => d.dimParam ?? d.dimValue)];
    const layerIo = (kind: string, seq: string) => range(0, cfg.layers).flatMap((i) => ['key', 'value'].map((kv) => [`${kind}.${i}.${kv}`, 'batch', cfg.kvHeads, seq, cfg.headDim]));
    expect(model.graph.input.map(dims)).toEqual([
      ['input_ids', 'batch', 'sequence'],
      ['attention_mask', 'batch', 'total_sequence'],
      ['position_ids', 'batch', 'sequence'],
      ...layerIo('past_key_values', 'past_sequence'),
    ]);
    expect(model.graph.output.map(dims)).toEqual([['logits', 'batch', 'sequence', cfg.vocabSize], ...layerIo('present', 'total_sequence')]);
    // Every linear layer is a MatMul with a 2-D initializer named by its HF parameter, the LM head included.
    const inits = new Map(model.graph.initializer.map((t) => [t.name, t.dims.map(Number)]));
    const weights = model.graph.node.filter((n) => n.opType === 'MatMul' && inits.has(n.input[1]!)).map((n) => [n.input[1], inits.get(n.input[1]!)]);
    const perLayer = family === 'gpt2' ? 4 : 7;
    expect(weights).toHaveLength(perLayer * cfg.layers + 1);
    expect(weights.at(-1)).toEqual(['lm_head.weight', [cfg.hiddenSize, cfg.vocabSize]]);
    if (family === 'gpt2') expect(weights[0]).toEqual(['transformer.h.0.attn.c_attn.weight', [32, 96]]);
    if (family === 'llama') expect(weights.slice(0, 3)).toEqual([['model.layers.0.self_attn.q_proj.weight', [32, 48]], ['model.layers.0.self_attn.k_proj.weight', [32, 24]], ['model.layers.0.self_attn.v_proj.weight', [32, 24]]]);
    expect(model.graph.node.every((n) => !n.domain)).toBe(true);
  });

  it('prefill of N tokens = prefill of N − k, then k single-token decode steps feeding present back as past (max |Δ| ≤ 1e-4)', async () => {
    const ids = tokens(12, cfg.vocabSize, 1);
    const full = await step(session, cfg, [ids], [ones(12)], [range(0, 12)], emptyCache(cfg, 1));
    const k = 5;
    let part: StepResult = await step(session, cfg, [ids.slice(0, 12 - k)], [ones(12 - k)], [range(0, 12 - k)], emptyCache(cfg, 1));
    let worst = maxAbsDiff(logitsAt(part, 0, 12 - k - 1), logitsAt(full, 0, 12 - k - 1));
    for (let t = 12 - k; t < 12; t++) {
      part = await step(session, cfg, [[ids[t]!]], [ones(t + 1)], [[t]], part.cache);
      worst = Math.max(worst, maxAbsDiff(logitsAt(part, 0, 0), logitsAt(full, 0, t)));
    }
    // The cache grew to 12 positions at kv_heads.
    expect(part.cache['past_key_values.0.key']!.dims).toEqual([1, cfg.kvHeads, 12, cfg.headDim]);
    expect(worst).toBeLessThanOrEqual(1e-4);
    // Not vacuous: the logits move with the position.
    expect(maxAbsDiff(logitsAt(full, 0, 10), logitsAt(full, 0, 11))).toBeGreaterThan(1e-2);
  });

  it('a chunk of several tokens after a cache (past 5, then 4 tokens, then 3) = the full prefill', async () => {
    const ids = tokens(12, cfg.vocabSize, 8);
    const full = await step(session, cfg, [ids], [ones(12)], [range(0, 12)], emptyCache(cfg, 1));
    let worst = 0;
    let cache = emptyCache(cfg, 1);
    for (const [from, to] of [[0, 5], [5, 9], [9, 12]] as const) {
      const part = await step(session, cfg, [ids.slice(from, to)], [ones(to)], [range(from, to - from)], cache);
      for (let t = from; t < to; t++) worst = Math.max(worst, maxAbsDiff(logitsAt(part, 0, t - from), logitsAt(full, 0, t)));
      cache = part.cache;
    }
    expect(worst).toBeLessThanOrEqual(1e-4);
  });

  it('a left-padded batch gives each row the logits of that row alone, in the prefill and 3 decode steps', async () => {
    const rows = [tokens(9, cfg.vocabSize, 2), tokens(4, cfg.vocabSize, 3), tokens(7, cfg.vocabSize, 4)];
    const next = [tokens(3, cfg.vocabSize, 5), tokens(3, cfg.vocabSize, 6), tokens(3, cfg.vocabSize, 7)];
    const padded = leftPad(rows, 0);
    let batch = await step(session, cfg, padded.ids, padded.mask, padded.positions, emptyCache(cfg, rows.length));
    let worst = 0;
    const mask = padded.mask.map((m) => [...m]);
    const alone: StepResult[] = [];
    for (const [r, row] of rows.entries()) {
      alone[r] = await step(session, cfg, [row], [ones(row.length)], [range(0, row.length)], emptyCache(cfg, 1));
      const pad = 9 - row.length;
      for (let t = 0; t < row.length; t++) worst = Math.max(worst, maxAbsDiff(logitsAt(batch, r, pad + t), logitsAt(alone[r]!, 0, t)));
    }
    for (let s = 0; s < 3; s++) {
      mask.forEach((m) => m.push(1));
      batch = await step(session, cfg, next.map((n) => [n[s]!]), mask, rows.map((row) => [row.length + s]), batch.cache);
      for (const [r, row] of rows.entries()) {
        alone[r] = await step(session, cfg, [[next[r]![s]!]], [ones(row.length + s + 1)], [[row.length + s]], alone[r]!.cache);
        worst = Math.max(worst, maxAbsDiff(logitsAt(batch, r, 0), logitsAt(alone[r]!, 0, 0)));
      }
    }
    expect(worst).toBeLessThanOrEqual(1e-4);
  });

  it('builds byte-identical models from the same config and seed, and other bytes from another seed', async () => {
    const again = await build(TINY[family]!);
    expect(Buffer.from(again.bytes).equals(Buffer.from(bytes))).toBe(true);
    const other = await build(TINY[family]!, 2);
    expect(Buffer.from(other.bytes).equals(Buffer.from(bytes))).toBe(false);
  });
});

describe("Mistral's sliding window", () => {
  it('with one layer and window 3, logits at position t depend on tokens t − 2 … t only, in prefill and decode', async () => {
    const raw = {
      model_type: 'mistral', architectures: ['MistralForCausalLM'], vocab_size: 53, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1,
      num_attention_heads: 2, num_key_value_heads: 1, sliding_window: 3,
    };
    const { cfg, bytes } = await build(raw);
    const session = await createSession(bytes, { intraOpThreads: 1 });
    try {
      const a = tokens(8, 53, 1);
      const b = [...a];
      b[0] = (b[0]! + 1) % 53; // differs at position 0 only
      const run = (ids: number[]) => step(session, cfg, [ids], [ones(8)], [range(0, 8)], emptyCache(cfg, 1));
      const [ra, rb] = [await run(a), await run(b)];
      expect(maxAbsDiff(logitsAt(ra, 0, 2), logitsAt(rb, 0, 2))).toBeGreaterThan(1e-3); // position 0 in the window of 2
      expect(maxAbsDiff(logitsAt(ra, 0, 3), logitsAt(rb, 0, 3))).toBe(0); // …not of 3
      // Decode with the window: the cache holds every position, the mask hides the old ones.
      let part = await step(session, cfg, [a.slice(0, 5)], [ones(5)], [range(0, 5)], emptyCache(cfg, 1));
      let worst = 0;
      for (let t = 5; t < 8; t++) {
        part = await step(session, cfg, [[a[t]!]], [ones(t + 1)], [[t]], part.cache);
        worst = Math.max(worst, maxAbsDiff(logitsAt(part, 0, 0), logitsAt(ra, 0, t)));
      }
      expect(worst).toBeLessThanOrEqual(1e-4);
    } finally {
      await session.release();
    }
  });
});
