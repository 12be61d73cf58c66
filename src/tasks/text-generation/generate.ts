// Greedy decoding with the KV cache through onnxruntime-node, against the decoder graph onnx.export
// writes (the layout of Optimum and onnxruntime-genai): inputs input_ids, attention_mask,
// position_ids and past_key_values.{i}.key/.value [batch, kv_heads, past, head_dim]; outputs logits
// [batch, sequence, vocab] and present.{i}.key/.value [batch, kv_heads, past + sequence, head_dim].
//
// One graph serves both phases: the prefill runs the whole (left-padded) prompt with an empty past
// (a 0-length past axis), then each step feeds the token just chosen with the present tensors of the
// previous call as the past. attention_mask and position_ids are built as transformers builds them
// for a left-padded batch: mask 0 on the padding, position_ids = cumsum(mask) − 1 with the padding
// set to 1, and each step's position the row's count of real tokens so far, so a padded row
// computes what it would alone.
import ort from 'onnxruntime-node';
import { textGenerationErrors } from './errors.ts';

/** The names and cache shape of a decoder graph, read from the session's metadata. */
export interface DecoderIo {
  logits: string;
  /** past_key_values.{i}.key / .value, in layer order. */
  past: { key: string; value: string }[];
  /** present.{i}.key / .value, in layer order. */
  present: { key: string; value: string }[];
  kvHeads: number;
  headDim: number;
  hasPositionIds: boolean;
}

const PAST = /^past_key_values\.(\d+)\.(key|value)$/;

/** The decoder's inputs and outputs, or DECODER_GRAPH naming what is missing. */
export function decoderIo(session: ort.InferenceSession, which: string): DecoderIo {
  const inputs = session.inputNames;
  const outputs = session.outputNames;
  const layers = new Set<number>();
  for (const n of inputs) {
    const m = PAST.exec(n);
    if (m) layers.add(Number(m[1]));
  }
  const count = layers.size;
  const past = Array.from({ length: count }, (_, i) => ({ key: `past_key_values.${i}.key`, value: `past_key_values.${i}.value` }));
  const present = Array.from({ length: count }, (_, i) => ({ key: `present.${i}.key`, value: `present.${i}.value` }));
  const missing = [
    ...['input_ids', 'attention_mask'].filter((n) => !inputs.includes(n)),
    ...past.flatMap((p) => [p.key, p.value]).filter((n) => !inputs.includes(n)),
  ];
  const missingOut = [...(outputs.includes('logits') ? [] : ['logits']), ...present.flatMap((p) => [p.key, p.value]).filter((n) => !outputs.includes(n))];
  if (count === 0 || missing.length || missingOut.length) {
    throw textGenerationErrors.notADecoder(which, inputs, outputs, count === 0 ? ['past_key_values.0.key', ...missing] : missing, missingOut);
  }
  const meta = session.inputMetadata.find((m) => m.name === past[0]!.key);
  const shape = meta && meta.isTensor ? meta.shape : [];
  const [kvHeads, headDim] = [shape[1], shape[3]];
  if (typeof kvHeads !== 'number' || typeof headDim !== 'number') throw textGenerationErrors.cacheShape(which, past[0]!.key, shape);
  return { logits: 'logits', past, present, kvHeads, headDim, hasPositionIds: inputs.includes('position_ids') };
}

const int64 = (values: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), dims);

/** An empty cache: [batch, kv_heads, 0, head_dim] for every layer. */
export function emptyPast(io: DecoderIo, batch: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const p of io.past) {
    feeds[p.key] = new ort.Tensor('float32', new Float32Array(0), [batch, io.kvHeads, 0, io.headDim]);
    feeds[p.value] = new ort.Tensor('float32', new Float32Array(0), [batch, io.kvHeads, 0, io.headDim]);
  }
  return feeds;
}

/** Left-pads the prompts: ids, mask and position ids as transformers builds them. */
export function leftPadded(prompts: number[][], padId: number): { ids: number[]; mask: number[]; positions: number[]; width: number } {
  const width = Math.max(...prompts.map((p) => p.length));
  const ids: number[] = [];
  const mask: number[] = [];
  const positions: number[] = [];
  for (const p of prompts) {
    const pad = width - p.length;
    for (let j = 0; j < width; j++) {
      const real = j >= pad;
      ids.push(real ? p[j - pad]! : padId);
      mask.push(real ? 1 : 0);
      // cumsum(mask) - 1, padding set to 1 (transformers' prepare_inputs_for_generation)
      positions.push(real ? j - pad : 1);
    }
  }
  return { ids, mask, positions, width };
}

/** argmax over the last position's logits of each row; ties go to the lowest id, as torch.argmax. */
export function lastArgmax(logits: ort.Tensor): number[] {
  const [batch, seq, vocab] = logits.dims as [number, number, number];
  const data = logits.data as Float32Array;
  const out: number[] = [];
  for (let b = 0; b < batch; b++) {
    const base = (b * seq + seq - 1) * vocab;
    let best = 0;
    let bestValue = data[base]!;
    for (let v = 1; v < vocab; v++) {
      const x = data[base + v]!;
      if (x > bestValue) {
        bestValue = x;
        best = v;
      }
    }
    out.push(best);
  }
  return out;
}

export interface GenerateOptions {
  newTokens: number;
  padId: number;
  /** Stop a row at this token (it is kept; the row is then fed padding until every row stopped). Default: generate newTokens whatever comes. */
  eosId?: number | null;
  signal?: AbortSignal;
  /** Called with the time of the prefill + first token and of each later step, in ms. */
  onStep?: (step: number, ms: number) => void;
}

export interface Generation {
  /** Per prompt, the generated ids (newTokens of them, fewer when it stopped at eos). */
  tokens: number[][];
  /** Prefill + the first token's choice, ms. */
  firstTokenMs: number;
  /** Every later step, ms (newTokens − 1 of them when no row stopped early). */
  stepMs: number[];
}

/**
 * Greedy decoding of `prompts` (token ids, any lengths: left-padded into one batch) for
 * `newTokens` tokens with the KV cache.
 */
export async function generate(session: ort.InferenceSession, io: DecoderIo, prompts: number[][], options: GenerateOptions): Promise<Generation> {
  const batch = prompts.length;
  const { ids, mask, positions, width } = leftPadded(prompts, options.padId);
  const maskRows = prompts.map((_, b) => mask.slice(b * width, (b + 1) * width));
  const seen = prompts.map((p) => p.length);
  const feeds: Record<string, ort.Tensor> = { ...emptyPast(io, batch), input_ids: int64(ids, [batch, width]), attention_mask: int64(mask, [batch, width]) };
  if (io.hasPositionIds) feeds.position_ids = int64(positions, [batch, width]);
  const tokens: number[][] = prompts.map(() => []);
  const done = prompts.map(() => false);
  const stepMs: number[] = [];
  let firstTokenMs = 0;
  for (let step = 0; step < options.newTokens; step++) {
    if (options.signal?.aborted) throw new Error('interrupted');
    const t0 = performance.now();
    const out = await session.run(feeds);
    const next = lastArgmax(out[io.logits]!);
    const ms = performance.now() - t0;
    if (step === 0) firstTokenMs = ms;
    else stepMs.push(ms);
    options.onStep?.(step, ms);
    // As transformers: a row that stopped before this step is fed padding; the eos itself is fed.
    const fed = next.map((t, b) => (done[b] ? options.padId : t));
    next.forEach((t, b) => {
      if (done[b]) return;
      tokens[b]!.push(t);
      if (options.eosId !== undefined && options.eosId !== null && t === options.eosId) done[b] = true;
    });
    if (step === options.newTokens - 1 || done.every(Boolean)) break;
    // The next call: one token per row, the mask one longer, the row's next position, the cache.
    for (let b = 0; b < batch; b++) maskRows[b]!.push(1);
    feeds.input_ids = int64(fed, [batch, 1]);
    feeds.attention_mask = int64(maskRows.flat(), [batch, maskRows[0]!.length]);
    if (io.hasPositionIds) feeds.position_ids = int64(seen.map((s) => s), [batch, 1]);
    for (let b = 0; b < batch; b++) seen[b]! += 1;
    io.past.forEach((p, i) => {
      feeds[p.key] = out[io.present[i]!.key]!;
      feeds[p.value] = out[io.present[i]!.value]!;
    });
  }
  return { tokens, firstTokenMs, stepMs };
}

/**
 * The same greedy tokens without a cache: every step runs the whole sequence so far (batch 1).
 * What the cache must reproduce; slow, for tests.
 */
export async function generateWithoutCache(session: ort.InferenceSession, io: DecoderIo, prompt: number[], newTokens: number): Promise<number[]> {
  const seq = [...prompt];
  const out: number[] = [];
  for (let step = 0; step < newTokens; step++) {
    const n = seq.length;
    const feeds: Record<string, ort.Tensor> = { ...emptyPast(io, 1), input_ids: int64(seq, [1, n]), attention_mask: int64(seq.map(() => 1), [1, n]) };
    if (io.hasPositionIds) feeds.position_ids = int64(seq.map((_, j) => j), [1, n]);
    const t = lastArgmax((await session.run(feeds))[io.logits]!)[0]!;
    out.push(t);
    seq.push(t);
  }
  return out;
}
