// DistilBERT (modeling_distilbert.py): word + position embeddings → LayerNorm (no token types);
// blocks named attention.{q,k,v,out}_lin, sa_layer_norm, ffn.lin1/lin2, output_layer_norm under
// distilbert.transformer.layer.N. DistilBertForSequenceClassification: first token →
// pre_classifier → ReLU → classifier.
import type { ExportTask } from './encoder-config.ts';
import { declareInputs, emitOutput, embeddingTable, encoderStack, lookup } from './encoder-parts.ts';
import { layerNorm, leadingPositions, linear, type BlockNames, type ExportContext } from './layers.ts';

const blockNames = (layer: string): BlockNames => ({
  query: `${layer}.attention.q_lin`,
  key: `${layer}.attention.k_lin`,
  value: `${layer}.attention.v_lin`,
  attentionOut: `${layer}.attention.out_lin`,
  attentionNorm: `${layer}.sa_layer_norm`,
  ffnIn: `${layer}.ffn.lin1`,
  ffnOut: `${layer}.ffn.lin2`,
  ffnNorm: `${layer}.output_layer_norm`,
});

export async function buildDistilbert(ctx: ExportContext, task: ExportTask): Promise<void> {
  const { g, cfg } = ctx;
  const h = cfg.hiddenSize;
  const inputs = declareInputs(ctx, false);
  const scope = '/distilbert/embeddings';
  const words = lookup(ctx, await embeddingTable(ctx, 'distilbert.embeddings.word_embeddings', cfg.vocabSize, h, cfg.padTokenId), inputs.inputIds, `${scope}/word_embeddings`);
  const table = await embeddingTable(ctx, 'distilbert.embeddings.position_embeddings', cfg.maxPositions, h);
  const positions = leadingPositions(ctx, table, inputs.inputIds, `${scope}/position_embeddings`);
  const embeddings = await layerNorm(ctx, g.op('Add', [words, positions], { name: `${scope}/Add` }), 'distilbert.embeddings.LayerNorm', h);
  const hidden = await encoderStack(
    ctx,
    embeddings,
    inputs.attentionMask,
    (i) => blockNames(`distilbert.transformer.layer.${i}`),
    (i) => `/distilbert/transformer/layer.${i}`,
  );
  await emitOutput(ctx, hidden, task, async (cls) => {
    const pre = g.op('Relu', [await linear(ctx, cls, 'pre_classifier', h, h)], { name: '/pre_classifier/Relu' });
    return linear(ctx, pre, 'classifier', h, cfg.numLabels, 'logits');
  });
}
