// LlamaForCausalLM (modeling_llama.py), and Qwen2ForCausalLM / MistralForCausalLM, which differ only
// in config (q/k/v biases, sliding window): embed_tokens, pre-norm blocks (input_layernorm → q/k/v
// projections, RoPE, grouped-query attention over the cache → o_proj; post_attention_layernorm →
// down_proj(act(gate_proj(x)) · up_proj(x))), model.norm, lm_head (tied to embed_tokens or its own).
import { activation, scopeOf } from '../layers.ts';
import { attentionBias, cachedAttention, declareDecoderInputs, declareOutputs, embedding, linear, lmHead, rmsNorm, rotary, type AttentionResult, type DecoderContext } from './decoder-parts.ts';

export async function buildLlama(ctx: DecoderContext): Promise<void> {
  const { g, cfg } = ctx;
  const h = cfg.hiddenSize;
  const qWidth = cfg.heads * cfg.headDim;
  const kvWidth = cfg.kvHeads * cfg.headDim;
  const inputs = declareDecoderInputs(ctx);
  const bias = attentionBias(ctx, inputs);
  const rot = rotary(ctx, inputs.positionIds);
  const words = await embedding(ctx, 'model.embed_tokens.weight', cfg.vocabSize, inputs.inputIds, '/model/embed_tokens');
  let x = words.out;

  const presents: AttentionResult['present'][] = [];
  for (let i = 0; i < cfg.layers; i++) {
    const p = `model.layers.${i}`;
    const scope = scopeOf(p);
    const normed = await rmsNorm(ctx, x, `${p}.input_layernorm`);
    const proj = (name: string, width: number) => linear(ctx, normed, `${p}.self_attn.${name}`, h, width, { layout: 'linear', bias: cfg.qkvBias });
    const attn = cachedAttention(ctx, {
      q: await proj('q_proj', qWidth),
      k: await proj('k_proj', kvWidth),
      v: await proj('v_proj', kvWidth),
      past: inputs.past[i]!,
      layer: i,
      rotary: rot,
      // LlamaAttention.scaling = head_dim ** -0.5, multiplied into q·kᵀ.
      scale: { multiply: cfg.headDim ** -0.5 },
      bias,
      scope: `${scope}/self_attn`,
    });
    presents.push(attn.present);
    const attnOut = await linear(ctx, attn.context, `${p}.self_attn.o_proj`, qWidth, h, { layout: 'linear', bias: cfg.outputBias });
    x = g.op('Add', [x, attnOut], { name: `${scope}/Add` });

    const normed2 = await rmsNorm(ctx, x, `${p}.post_attention_layernorm`);
    const mlp = (name: string, inF: number, outF: number, input: string) => linear(ctx, input, `${p}.mlp.${name}`, inF, outF, { layout: 'linear', bias: cfg.mlpBias });
    const gate = activation(ctx, await mlp('gate_proj', h, cfg.intermediateSize, normed2), cfg.hiddenAct, `${scope}/mlp/act_fn`);
    const up = await mlp('up_proj', h, cfg.intermediateSize, normed2);
    const product = g.op('Mul', [gate, up], { name: `${scope}/mlp/Mul` });
    const down = await mlp('down_proj', cfg.intermediateSize, h, product);
    x = g.op('Add', [x, down], { name: `${scope}/Add` });
  }
  const final = await rmsNorm(ctx, x, 'model.norm');
  declareOutputs(ctx, await lmHead(ctx, final, words.values), presents);
}
