// The pieces both decoder families share, as ONNX nodes (default domain, opset 21): the graph's
// inputs and KV-cache outputs in the layout Optimum and onnxruntime-genai use, the attention bias
// built from attention_mask (causal + left padding, one graph for prefill and decode), linear layers
// as MatMul + Add with the weight as a [in, out] initializer named by its Hugging Face parameter name
// (what the weight-only quantizer looks for), norms, RoPE and attention over past + new keys.
import { attrFloat, attrInt, attrInts, DataType, type GraphBuilder } from '../graph-builder.ts';
import { FLOAT32_MIN, scopeOf } from '../layers.ts';
import { transpose2d, type WeightSource } from '../weight-source.ts';
import type { DecoderConfig } from './decoder-config.ts';
import { ropeInverseFrequencies } from './rope.ts';

export interface DecoderContext {
  g: GraphBuilder;
  w: WeightSource;
  cfg: DecoderConfig;
}

export interface DecoderInputs {
  inputIds: string;
  attentionMask: string;
  positionIds: string;
  /** past_key_values.{i}.key / .value, per layer. */
  past: { key: string; value: string }[];
}

/** Symbolic dims: one graph serves every batch, prompt length and cache length. */
export const DIMS = { batch: 'batch', sequence: 'sequence', total: 'total_sequence', past: 'past_sequence' } as const;

export function declareDecoderInputs(ctx: DecoderContext): DecoderInputs {
  const { g, cfg } = ctx;
  const inputIds = g.input('input_ids', DataType.INT64, [DIMS.batch, DIMS.sequence]);
  const attentionMask = g.input('attention_mask', DataType.INT64, [DIMS.batch, DIMS.total]);
  const positionIds = g.input('position_ids', DataType.INT64, [DIMS.batch, DIMS.sequence]);
  const past: DecoderInputs['past'] = [];
  const dims = [DIMS.batch, cfg.kvHeads, DIMS.past, cfg.headDim];
  for (let i = 0; i < cfg.layers; i++) {
    past.push({
      key: g.input(`past_key_values.${i}.key`, DataType.FLOAT, dims),
      value: g.input(`past_key_values.${i}.value`, DataType.FLOAT, dims),
    });
  }
  return { inputIds, attentionMask, positionIds, past };
}

/**
 * The additive attention bias [batch, 1, sequence, total]: 0 where query i (absolute position
 * past + i, past = total − sequence) may see key j, finfo(float32).min elsewhere, as transformers'
 * eager attention adds it (masking_utils.py). A key is visible when it is not padding
 * (attention_mask[b, j] = 1), not in the future (j ≤ past + i) and, with a sliding window, not too
 * far back (j > past + i − window). A left-padding query sees nothing and gets a uniform softmax,
 * as in PyTorch; its logits are meaningless either way.
 */
export function attentionBias(ctx: DecoderContext, inputs: DecoderInputs): string {
  const { g, cfg } = ctx;
  const s = '/model/attention_mask';
  const scalarOf = (vec: string, name: string) => g.op('Squeeze', [vec, g.ints([0])], { name: `${s}/${name}/Squeeze` });
  const seq = g.op('Shape', [inputs.inputIds], { name: `${s}/Shape`, attrs: [attrInt('start', 1), attrInt('end', 2)] });
  const total = g.op('Shape', [inputs.attentionMask], { name: `${s}/Shape`, attrs: [attrInt('start', 1), attrInt('end', 2)] });
  const past = g.op('Sub', [total, seq], { name: `${s}/Sub` });
  const totalScalar = scalarOf(total, 'total');
  const one = g.ints([1], []);
  const keyPos = g.op('Range', [g.ints([0], []), totalScalar, one], { name: `${s}/key/Range` });
  const queryPos = g.op('Range', [scalarOf(past, 'past'), totalScalar, one], { name: `${s}/query/Range` });
  const keyRow = g.op('Unsqueeze', [keyPos, g.ints([0])], { name: `${s}/key/Unsqueeze` }); // [1, total]
  const queryCol = g.op('Unsqueeze', [queryPos, g.ints([1])], { name: `${s}/query/Unsqueeze` }); // [seq, 1]
  let visible = g.op('LessOrEqual', [keyRow, queryCol], { name: `${s}/causal/LessOrEqual` }); // [seq, total]
  if (cfg.slidingWindow) {
    const oldest = g.op('Sub', [queryCol, g.ints([cfg.slidingWindow], [])], { name: `${s}/window/Sub` });
    const inWindow = g.op('Greater', [keyRow, oldest], { name: `${s}/window/Greater` });
    visible = g.op('And', [visible, inWindow], { name: `${s}/window/And` });
  }
  const notPad = g.op('Cast', [inputs.attentionMask], { name: `${s}/Cast`, attrs: [attrInt('to', DataType.BOOL)] });
  const notPad4 = g.op('Unsqueeze', [notPad, g.ints([1, 2])], { name: `${s}/Unsqueeze` }); // [batch, 1, 1, total]
  const allowed = g.op('And', [notPad4, visible], { name: `${s}/And` }); // [batch, 1, seq, total]
  return g.op('Where', [allowed, g.scalar(0), g.scalar(FLOAT32_MIN)], { name: `${s}/Where` });
}

export type WeightLayout =
  /** nn.Linear: PyTorch keeps [out, in]; transposed once here to the [in, out] a MatMul reads. */
  | 'linear'
  /** GPT-2's Conv1D: already [in, out]. */
  | 'conv1d';

/** A linear layer: MatMul with the [in, out] initializer `${prefix}.weight`, then Add of `${prefix}.bias`. */
export async function linear(ctx: DecoderContext, x: string, prefix: string, inF: number, outF: number, options: { layout: WeightLayout; bias: boolean }): Promise<string> {
  const { g, w } = ctx;
  const name = `${prefix}.weight`;
  const values = options.layout === 'conv1d' ? await w.tensor(name, [inF, outF], { normal: true }) : await w.transposed(name, [outF, inF], { normal: true });
  const scope = scopeOf(prefix);
  const mm = g.op('MatMul', [x, g.weight(name, [inF, outF], values)], { name: `${scope}/MatMul` });
  if (!options.bias) return mm;
  const bias = g.weight(`${prefix}.bias`, [outF], await w.tensor(`${prefix}.bias`, [outF], 'zeros'));
  return g.op('Add', [mm, bias], { name: `${scope}/Add` });
}

/** nn.LayerNorm over the last axis (LayerNormalization). */
export async function layerNorm(ctx: DecoderContext, x: string, prefix: string): Promise<string> {
  const { g, w, cfg } = ctx;
  const h = cfg.hiddenSize;
  const scale = g.weight(`${prefix}.weight`, [h], await w.tensor(`${prefix}.weight`, [h], 'ones'));
  const bias = g.weight(`${prefix}.bias`, [h], await w.tensor(`${prefix}.bias`, [h], 'zeros'));
  return g.op('LayerNormalization', [x, scale, bias], { name: `${scopeOf(prefix)}/LayerNormalization`, attrs: [attrInt('axis', -1), attrFloat('epsilon', cfg.normEps)] });
}

/**
 * LlamaRMSNorm: weight · x / √(mean(x²) + eps). RMSNormalization is opset 23, so it is spelled
 * out as Pow → ReduceMean → Add → Sqrt → Div → Mul, the pattern onnxruntime fuses into
 * SimplifiedLayerNormalization.
 */
export async function rmsNorm(ctx: DecoderContext, x: string, prefix: string): Promise<string> {
  const { g, w, cfg } = ctx;
  const h = cfg.hiddenSize;
  const s = scopeOf(prefix);
  const squared = g.op('Pow', [x, g.scalar(2)], { name: `${s}/Pow` });
  const mean = g.op('ReduceMean', [squared, g.ints([-1])], { name: `${s}/ReduceMean`, attrs: [attrInt('keepdims', 1)] });
  const root = g.op('Sqrt', [g.op('Add', [mean, g.scalar(cfg.normEps)], { name: `${s}/Add` })], { name: `${s}/Sqrt` });
  const normed = g.op('Div', [x, root], { name: `${s}/Div` });
  const weight = g.weight(`${prefix}.weight`, [h], await w.tensor(`${prefix}.weight`, [h], 'ones'));
  return g.op('Mul', [weight, normed], { name: `${s}/Mul` });
}

/**
 * gelu_new / gelu_pytorch_tanh / gelu_fast, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), written as
 * x·0.5 · (1 + tanh((x·√(2/π)) · (1 + 0.044715·x·x))): the same function, in the node order
 * onnxruntime's FastGeluFusion matches (its first formula; the Pow form is not matched at opset 21's
 * Pow-15), so the CPU runs one FastGelu instead of nine element-wise ops per MLP. The constants are
 * the float32 values the fusion compares against. Other activations: src/export/layers.ts.
 */
export function geluTanh(ctx: DecoderContext, x: string, scope: string): string {
  const { g } = ctx;
  const xx = g.op('Mul', [g.op('Mul', [x, g.scalar(0.044715)], { name: `${scope}/Mul` }), x], { name: `${scope}/Mul` });
  const onePlus = g.op('Add', [xx, g.scalar(1)], { name: `${scope}/Add` });
  const inner = g.op('Mul', [onePlus, g.op('Mul', [x, g.scalar(Math.sqrt(2 / Math.PI))], { name: `${scope}/Mul` })], { name: `${scope}/Mul` });
  const tanhPlus = g.op('Add', [g.op('Tanh', [inner], { name: `${scope}/Tanh` }), g.scalar(1)], { name: `${scope}/Add` });
  return g.op('Mul', [g.op('Mul', [x, g.scalar(0.5)], { name: `${scope}/Mul` }), tanhPlus], { name: `${scope}/Mul` });
}

/** cos and sin [batch, 1, sequence, head_dim] of the rotary embedding at position_ids, for every layer. */
export interface Rotary {
  cos: string;
  sin: string;
}

/**
 * LlamaRotaryEmbedding: inv_freq (./rope.ts: default, linear or llama3; attention scaling 1),
 * angles = position · inv_freq, emb = [angles, angles], then cos and sin.
 */
export function rotary(ctx: DecoderContext, positionIds: string): Rotary {
  const { g, cfg } = ctx;
  const s = '/model/rotary_emb';
  const half = cfg.headDim / 2;
  const inv = g.weight('model.rotary_emb.inv_freq', [half], ropeInverseFrequencies(cfg));
  const pos = g.op('Unsqueeze', [g.op('Cast', [positionIds], { name: `${s}/Cast`, attrs: [attrInt('to', DataType.FLOAT)] }), g.ints([2])], { name: `${s}/Unsqueeze` });
  const angles = g.op('Mul', [pos, inv], { name: `${s}/Mul` }); // [batch, seq, half]
  const emb = g.op('Concat', [angles, angles], { name: `${s}/Concat`, attrs: [attrInt('axis', -1)] });
  const perHead = (op: string) => g.op('Unsqueeze', [g.op(op, [emb], { name: `${s}/${op}` }), g.ints([1])], { name: `${s}/${op}/Unsqueeze` });
  return { cos: perHead('Cos'), sin: perHead('Sin') };
}

/** apply_rotary_pos_emb for one of q/k [batch, heads, seq, d]: x·cos + rotate_half(x)·sin. */
function applyRotary(ctx: DecoderContext, x: string, rot: Rotary, scope: string): string {
  const { g, cfg } = ctx;
  const half = cfg.headDim / 2;
  const axis = g.ints([3]);
  const x1 = g.op('Slice', [x, g.ints([0]), g.ints([half]), axis], { name: `${scope}/Slice` });
  const x2 = g.op('Slice', [x, g.ints([half]), g.ints([cfg.headDim]), axis], { name: `${scope}/Slice` });
  const rotated = g.op('Concat', [g.op('Neg', [x2], { name: `${scope}/Neg` }), x1], { name: `${scope}/Concat`, attrs: [attrInt('axis', -1)] });
  const a = g.op('Mul', [x, rot.cos], { name: `${scope}/Mul` });
  const b = g.op('Mul', [rotated, rot.sin], { name: `${scope}/Mul` });
  return g.op('Add', [a, b], { name: `${scope}/Add` });
}

export interface AttentionParts {
  /** Projected q, k, v: [batch, seq, heads·d], [batch, seq, kv_heads·d] ×2. */
  q: string;
  k: string;
  v: string;
  past: { key: string; value: string };
  layer: number;
  /** RoPE (Llama family); GPT-2 has learned positions instead. */
  rotary?: Rotary;
  /** Multiplies the scores (1/√d), or divides them by √d for GPT-2 (`divide`), as each modeling file does. */
  scale: { multiply: number } | { divide: number } | 'none';
  bias: string;
  scope: string;
}

/** What one layer's attention gives: its context [batch, seq, heads·d] and present.{i}.key/value. */
export interface AttentionResult {
  context: string;
  present: { key: string; value: string };
}

/**
 * Attention over the cache: heads split, RoPE, present = concat(past, new) on the sequence axis
 * (named present.{i}.key/value, kept at kv_heads; `declareOutputs` makes them graph outputs after
 * the logits), K/V heads repeated for grouped-query attention (repeat_kv), softmax(q·kᵀ · scale +
 * bias)·v, heads merged.
 */
export function cachedAttention(ctx: DecoderContext, a: AttentionParts): AttentionResult {
  const { g, cfg } = ctx;
  const d = cfg.headDim;
  const s = a.scope;
  const heads = (x: string, n: number, name: string) => {
    const r = g.op('Reshape', [x, g.ints([0, 0, n, d])], { name: `${s}/${name}/Reshape` });
    return g.op('Transpose', [r], { name: `${s}/${name}/Transpose`, attrs: [attrInts('perm', [0, 2, 1, 3])] });
  };
  let q = heads(a.q, cfg.heads, 'q');
  let k = heads(a.k, cfg.kvHeads, 'k');
  const v = heads(a.v, cfg.kvHeads, 'v');
  if (a.rotary) {
    q = applyRotary(ctx, q, a.rotary, `${s}/q/rotary`);
    k = applyRotary(ctx, k, a.rotary, `${s}/k/rotary`);
  }
  const presentKey = g.op('Concat', [a.past.key, k], { name: `${s}/key/Concat`, attrs: [attrInt('axis', 2)], output: `present.${a.layer}.key` });
  const presentValue = g.op('Concat', [a.past.value, v], { name: `${s}/value/Concat`, attrs: [attrInt('axis', 2)], output: `present.${a.layer}.value` });

  const groups = cfg.heads / cfg.kvHeads;
  // repeat_kv: [b, kv, T, d] → [b, kv, 1, T, d] → Expand [b, kv, groups, T, d] → [b, heads, T, d].
  const repeat = (x: string, name: string) => {
    if (groups === 1) return x;
    const u = g.op('Unsqueeze', [x, g.ints([2])], { name: `${s}/${name}/repeat_kv/Unsqueeze` });
    const e = g.op('Expand', [u, g.ints([1, 1, groups, 1, 1])], { name: `${s}/${name}/repeat_kv/Expand` });
    return g.op('Reshape', [e, g.ints([0, cfg.heads, -1, d])], { name: `${s}/${name}/repeat_kv/Reshape` });
  };
  const keys = repeat(presentKey, 'key');
  const values = repeat(presentValue, 'value');
  const kT = g.op('Transpose', [keys], { name: `${s}/key/Transpose`, attrs: [attrInts('perm', [0, 1, 3, 2])] });
  let scores = g.op('MatMul', [q, kT], { name: `${s}/scores/MatMul` });
  if (a.scale !== 'none') {
    scores = 'multiply' in a.scale
      ? g.op('Mul', [scores, g.scalar(a.scale.multiply)], { name: `${s}/scores/Mul` })
      : g.op('Div', [scores, g.scalar(a.scale.divide)], { name: `${s}/scores/Div` });
  }
  const masked = g.op('Add', [scores, a.bias], { name: `${s}/scores/Add` });
  const probs = g.op('Softmax', [masked], { name: `${s}/Softmax`, attrs: [attrInt('axis', -1)] });
  const context = g.op('MatMul', [probs, values], { name: `${s}/context/MatMul` });
  const merged = g.op('Transpose', [context], { name: `${s}/context/Transpose`, attrs: [attrInts('perm', [0, 2, 1, 3])] });
  const flat = g.op('Reshape', [merged, g.ints([0, 0, cfg.heads * d])], { name: `${s}/context/Reshape` });
  return { context: flat, present: { key: presentKey, value: presentValue } };
}

/** Rows of the embedding table `name` [vocab, hidden], kept as values for a tied LM head. */
export async function embedding(ctx: DecoderContext, name: string, rows: number, ids: string, scope: string): Promise<{ out: string; values: Float32Array }> {
  const { g, w, cfg } = ctx;
  const values = await w.tensor(name, [rows, cfg.hiddenSize], { normal: true });
  const out = g.op('Gather', [g.weight(name, [rows, cfg.hiddenSize], values), ids], { name: `${scope}/Gather` });
  return { out, values };
}

/**
 * The LM head: a MatMul with `lm_head.weight` [hidden, vocab]. Tied embeddings get their own
 * initializer (the embedding transposed), so the head is a plain 2-D constant MatMul like every
 * other linear layer (the weight-only quantizer quantizes it; the Gather keeps the float table).
 */
export async function lmHead(ctx: DecoderContext, x: string, embeddingValues: Float32Array): Promise<string> {
  const { g, w, cfg } = ctx;
  const { vocabSize: vocab, hiddenSize: h } = cfg;
  const values = cfg.tieWordEmbeddings ? transpose2d(embeddingValues, vocab, h) : await w.transposed('lm_head.weight', [vocab, h], { normal: true });
  return g.op('MatMul', [x, g.weight('lm_head.weight', [h, vocab], values)], { name: '/lm_head/MatMul', output: 'logits' });
}

/** The graph outputs in the contract's order: logits, then present.{i}.key / .value by layer. */
export function declareOutputs(ctx: DecoderContext, logits: string, presents: AttentionResult['present'][]): void {
  const { g, cfg } = ctx;
  g.output(logits, DataType.FLOAT, [DIMS.batch, DIMS.sequence, cfg.vocabSize]);
  const dims = [DIMS.batch, cfg.kvHeads, DIMS.total, cfg.headDim];
  for (const p of presents) {
    g.output(p.key, DataType.FLOAT, dims);
    g.output(p.value, DataType.FLOAT, dims);
  }
}
