// GPT2LMHeadModel (modeling_gpt2.py): token + learned position embeddings, pre-LN blocks (ln_1 →
// attention with the fused c_attn → c_proj; ln_2 → c_fc → gelu_new → c_proj), ln_f, the LM head
// (tied to wte unless tie_word_embeddings is false). Conv1D weights are stored [in, out] already.
import { activation, scopeOf } from '../layers.ts';
import { attentionBias, cachedAttention, declareDecoderInputs, declareOutputs, embedding, geluTanh, layerNorm, linear, lmHead, type AttentionResult, type DecoderContext } from './decoder-parts.ts';

const TANH_GELU = new Set(['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast']);

export async function buildGpt2(ctx: DecoderContext): Promise<void> {
  const { g, cfg } = ctx;
  const h = cfg.hiddenSize;
  const inputs = declareDecoderInputs(ctx);
  const bias = attentionBias(ctx, inputs);
  const words = await embedding(ctx, 'transformer.wte.weight', cfg.vocabSize, inputs.inputIds, '/transformer/wte');
  const positions = await embedding(ctx, 'transformer.wpe.weight', cfg.maxPositions, inputs.positionIds, '/transformer/wpe');
  let x = g.op('Add', [words.out, positions.out], { name: '/transformer/Add' });

  const presents: AttentionResult['present'][] = [];
  for (let i = 0; i < cfg.layers; i++) {
    const p = `transformer.h.${i}`;
    const scope = scopeOf(p);
    const normed = await layerNorm(ctx, x, `${p}.ln_1`);
    // c_attn: one MatMul [h, 3h] (one initializer, as the checkpoint has it), its output split into q, k, v.
    const qkv = await linear(ctx, normed, `${p}.attn.c_attn`, h, 3 * h, { layout: 'conv1d', bias: true });
    const axis = g.ints([2]);
    const part = (k: number, name: string) => g.op('Slice', [qkv, g.ints([k * h]), g.ints([(k + 1) * h]), axis], { name: `${scope}/attn/${name}/Slice` });
    const attn = cachedAttention(ctx, {
      q: part(0, 'query'),
      k: part(1, 'key'),
      v: part(2, 'value'),
      past: inputs.past[i]!,
      layer: i,
      scale: cfg.scaleAttention ? { divide: Math.sqrt(cfg.headDim) } : 'none',
      bias,
      scope: `${scope}/attn`,
    });
    presents.push(attn.present);
    const attnOut = await linear(ctx, attn.context, `${p}.attn.c_proj`, h, h, { layout: 'conv1d', bias: true });
    x = g.op('Add', [attnOut, x], { name: `${scope}/Add` });
    const normed2 = await layerNorm(ctx, x, `${p}.ln_2`);
    const up = await linear(ctx, normed2, `${p}.mlp.c_fc`, h, cfg.intermediateSize, { layout: 'conv1d', bias: true });
    const act = TANH_GELU.has(cfg.hiddenAct) ? geluTanh(ctx, up, `${scope}/mlp/act`) : activation(ctx, up, cfg.hiddenAct, `${scope}/mlp/act`);
    const down = await linear(ctx, act, `${p}.mlp.c_proj`, cfg.intermediateSize, h, { layout: 'conv1d', bias: true });
    x = g.op('Add', [down, x], { name: `${scope}/Add` });
  }
  const final = await layerNorm(ctx, x, 'transformer.ln_f');
  declareOutputs(ctx, await lmHead(ctx, final, words.values), presents);
}
