// The pieces every encoder family shares, as ONNX nodes: Linear, LayerNorm, activations, the
// additive attention mask, multi-head self-attention and the post-LN transformer block of
// modeling_bert.py (BertSelfAttention, BertSelfOutput, BertIntermediate, BertOutput), which
// RoBERTa, ELECTRA and (with other names) DistilBERT copy.
import { QrunError } from '../errors.ts';
import type { EncoderConfig } from './encoder-config.ts';
import { attrFloat, attrInt, attrInts, DataType, type GraphBuilder } from './graph-builder.ts';
import type { WeightSource } from './weight-source.ts';

export interface ExportContext {
  g: GraphBuilder;
  w: WeightSource;
  cfg: EncoderConfig;
  /** A task's head (src/tasks/<task>/), put on the last hidden state instead of the family's own. */
  head?: ExportHead;
}

/**
 * A task's head: adds the graph's outputs given the encoder's last hidden state [batch, sequence,
 * hidden]. The graph inputs are named `input_ids`, `attention_mask` (and `token_type_ids`).
 */
export type ExportHead = (ctx: ExportContext, hidden: string) => Promise<void>;

/** torch.finfo(torch.float32).min: the "large negative" transformers adds at masked positions. */
export const FLOAT32_MIN = -3.4028234663852886e38;

/** `/bert/encoder/layer.0/...`-style node scope from a weight prefix, as torch.onnx.export names them. */
export const scopeOf = (prefix: string) => `/${prefix.replace(/\.(?=[a-zA-Z_])/g, '/')}`;

/**
 * nn.Linear as MatMul (weight [in, out]: PyTorch keeps [out, in], the source transposes it) + Add
 * (bias): the pattern qdq.insert quantizes.
 */
export async function linear(ctx: ExportContext, x: string, prefix: string, inF: number, outF: number, output?: string): Promise<string> {
  const { g, w } = ctx;
  const weight = await w.transposed(`${prefix}.weight`, [outF, inF], { normal: true });
  const bias = await w.tensor(`${prefix}.bias`, [outF], 'zeros');
  const scope = scopeOf(prefix);
  const mm = g.op('MatMul', [x, g.weight(`${prefix}.weight`, [inF, outF], weight)], { name: `${scope}/MatMul` });
  return g.op('Add', [g.weight(`${prefix}.bias`, [outF], bias), mm], { name: `${scope}/Add`, output });
}

/** nn.LayerNorm over the last axis (ONNX LayerNormalization, opset 17). */
export async function layerNorm(ctx: ExportContext, x: string, prefix: string, size: number, output?: string): Promise<string> {
  const { g, w } = ctx;
  const scale = g.weight(`${prefix}.weight`, [size], await w.tensor(`${prefix}.weight`, [size], 'ones'));
  const bias = g.weight(`${prefix}.bias`, [size], await w.tensor(`${prefix}.bias`, [size], 'zeros'));
  return g.op('LayerNormalization', [x, scale, bias], {
    name: `${scopeOf(prefix)}/LayerNormalization`,
    attrs: [attrInt('axis', -1), attrFloat('epsilon', ctx.cfg.layerNormEps)],
    output,
  });
}

/**
 * ACT2FN in transformers/activations.py. "gelu" is the exact erf form (GELUActivation →
 * nn.functional.gelu): 0.5·x·(1 + erf(x/√2)); ONNX's Gelu op needs opset 20, so it is spelled out.
 * "gelu_new" / "gelu_pytorch_tanh" / "gelu_fast" are the tanh approximation
 * 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
 */
export function activation(ctx: Pick<ExportContext, 'g'>, x: string, act: string, scope: string): string {
  const { g } = ctx;
  switch (act) {
    case 'gelu': {
      const erf = g.op('Erf', [g.op('Div', [x, g.scalar(Math.SQRT2)], { name: `${scope}/Div` })], { name: `${scope}/Erf` });
      const onePlus = g.op('Add', [erf, g.scalar(1)], { name: `${scope}/Add` });
      return g.op('Mul', [g.op('Mul', [x, onePlus], { name: `${scope}/Mul` }), g.scalar(0.5)], { name: `${scope}/Mul` });
    }
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast': {
      const cube = g.op('Mul', [g.op('Mul', [x, x], { name: `${scope}/Mul` }), x], { name: `${scope}/Mul` });
      const inner = g.op('Add', [x, g.op('Mul', [cube, g.scalar(0.044715)], { name: `${scope}/Mul` })], { name: `${scope}/Add` });
      const tanh = g.op('Tanh', [g.op('Mul', [inner, g.scalar(Math.sqrt(2 / Math.PI))], { name: `${scope}/Mul` })], { name: `${scope}/Tanh` });
      const onePlus = g.op('Add', [tanh, g.scalar(1)], { name: `${scope}/Add` });
      return g.op('Mul', [g.op('Mul', [x, onePlus], { name: `${scope}/Mul` }), g.scalar(0.5)], { name: `${scope}/Mul` });
    }
    case 'relu':
      return g.op('Relu', [x], { name: `${scope}/Relu` });
    case 'silu':
    case 'swish':
      return g.op('Mul', [x, g.op('Sigmoid', [x], { name: `${scope}/Sigmoid` })], { name: `${scope}/Mul` });
    default:
      throw new QrunError([
        { code: 'EXPORT_CONFIG_INVALID', message: `activation "${act}" is not supported by the native exporter (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu)`, hint: 'export this model to ONNX with PyTorch instead' },
      ]);
  }
}

/**
 * attention_mask [batch, seq] (1 = token, 0 = padding) → additive [batch, 1, 1, seq]:
 * (1 − mask) · finfo(float32).min, as modeling_utils.py get_extended_attention_mask does.
 */
export function additiveMask(ctx: ExportContext, mask: string): string {
  const { g } = ctx;
  const scope = '/attention_mask';
  const asFloat = g.op('Cast', [mask], { name: `${scope}/Cast`, attrs: [attrInt('to', DataType.FLOAT)] });
  const inverted = g.op('Sub', [g.scalar(1), asFloat], { name: `${scope}/Sub` });
  const additive = g.op('Mul', [inverted, g.scalar(FLOAT32_MIN)], { name: `${scope}/Mul` });
  return g.op('Unsqueeze', [additive, g.ints([1, 2])], { name: `${scope}/Unsqueeze` });
}

/** Gather of the token at position 0 ([CLS] / <s>): [batch, seq, h] → [batch, h]. */
export function firstToken(ctx: ExportContext, x: string, scope: string): string {
  return ctx.g.op('Gather', [x, ctx.g.ints([0], [])], { name: `${scope}/Gather`, attrs: [attrInt('axis', 1)] });
}

/** Rows [0, seq) of a position table: positions 0…seq−1, broadcast over the batch. */
export function leadingPositions(ctx: ExportContext, table: string, inputIds: string, scope: string): string {
  const { g } = ctx;
  const seq = g.op('Shape', [inputIds], { name: `${scope}/Shape`, attrs: [attrInt('start', 1), attrInt('end', 2)] });
  return g.op('Slice', [table, g.ints([0]), seq, g.ints([0])], { name: `${scope}/Slice` });
}

/** Weight prefixes of one transformer block (BERT names, or DistilBERT's q_lin / sa_layer_norm / ffn). */
export interface BlockNames {
  query: string;
  key: string;
  value: string;
  attentionOut: string;
  attentionNorm: string;
  ffnIn: string;
  ffnOut: string;
  ffnNorm: string;
}

export const bertBlockNames = (layer: string): BlockNames => ({
  query: `${layer}.attention.self.query`,
  key: `${layer}.attention.self.key`,
  value: `${layer}.attention.self.value`,
  attentionOut: `${layer}.attention.output.dense`,
  attentionNorm: `${layer}.attention.output.LayerNorm`,
  ffnIn: `${layer}.intermediate.dense`,
  ffnOut: `${layer}.output.dense`,
  ffnNorm: `${layer}.output.LayerNorm`,
});

/**
 * One post-LN block: LayerNorm(x + Attention(x)), then LayerNorm(h + W2·act(W1·h)).
 * Attention (BertSelfAttention.forward): per-head Q·Kᵀ / √d + mask → Softmax → ·V.
 */
export async function transformerBlock(ctx: ExportContext, x: string, mask: string, names: BlockNames, scope: string): Promise<string> {
  const { g, cfg } = ctx;
  const h = cfg.hiddenSize;
  const d = h / cfg.heads;
  if (!Number.isInteger(d)) throw new Error(`hidden size ${h} is not a multiple of ${cfg.heads} heads`);
  const headsShape = g.ints([0, 0, cfg.heads, d]);
  // [b, s, h] → [b, s, heads, d] → [b, heads, s, d] (K: [b, heads, d, s], already transposed for Q·Kᵀ).
  const split = async (prefix: string, perm: number[]) => {
    const y = await linear(ctx, x, prefix, h, h);
    const r = g.op('Reshape', [y, headsShape], { name: `${scopeOf(prefix)}/Reshape` });
    return g.op('Transpose', [r], { name: `${scopeOf(prefix)}/Transpose`, attrs: [attrInts('perm', perm)] });
  };
  const q = await split(names.query, [0, 2, 1, 3]);
  const k = await split(names.key, [0, 2, 3, 1]);
  const v = await split(names.value, [0, 2, 1, 3]);
  const scores = g.op('MatMul', [q, k], { name: `${scope}/attention/MatMul` });
  const scaled = g.op('Div', [scores, g.scalar(Math.sqrt(d))], { name: `${scope}/attention/Div` });
  const masked = g.op('Add', [scaled, mask], { name: `${scope}/attention/Add` });
  const probs = g.op('Softmax', [masked], { name: `${scope}/attention/Softmax`, attrs: [attrInt('axis', -1)] });
  const context = g.op('MatMul', [probs, v], { name: `${scope}/attention/MatMul` });
  const merged = g.op('Transpose', [context], { name: `${scope}/attention/Transpose`, attrs: [attrInts('perm', [0, 2, 1, 3])] });
  const flat = g.op('Reshape', [merged, g.ints([0, 0, h])], { name: `${scope}/attention/Reshape` });

  const attnOut = await linear(ctx, flat, names.attentionOut, h, h);
  const residual1 = g.op('Add', [attnOut, x], { name: `${scopeOf(names.attentionNorm)}/Add` });
  const hidden = await layerNorm(ctx, residual1, names.attentionNorm, h);

  const up = await linear(ctx, hidden, names.ffnIn, h, cfg.intermediateSize);
  const act = activation(ctx, up, cfg.hiddenAct, `${scopeOf(names.ffnIn)}/act`);
  const down = await linear(ctx, act, names.ffnOut, cfg.intermediateSize, h);
  const residual2 = g.op('Add', [down, hidden], { name: `${scopeOf(names.ffnNorm)}/Add` });
  return layerNorm(ctx, residual2, names.ffnNorm, h);
}
