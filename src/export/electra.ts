// ELECTRA (modeling_electra.py): BERT's embeddings at embedding_size, then embeddings_project
// (a Linear to hidden_size) when the two differ (ElectraModel.__init__), then BERT's encoder.
// ElectraClassificationHead: dense → get_activation("gelu") (exact erf GELU, whatever hidden_act
// says) → out_proj, on the first token; no pooler.
import type { ExportTask } from './encoder-config.ts';
import { bertEmbeddings, bertStack, declareInputs, emitOutput } from './encoder-parts.ts';
import { activation, linear, type ExportContext } from './layers.ts';

export async function buildElectra(ctx: ExportContext, task: ExportTask): Promise<void> {
  const { cfg } = ctx;
  const h = cfg.hiddenSize;
  const inputs = declareInputs(ctx, true);
  let embeddings = await bertEmbeddings(ctx, 'electra', inputs, cfg.embeddingSize);
  if (cfg.embeddingSize !== h) embeddings = await linear(ctx, embeddings, 'electra.embeddings_project', cfg.embeddingSize, h);
  const hidden = await bertStack(ctx, embeddings, inputs.attentionMask, 'electra');
  await emitOutput(ctx, hidden, task, async (cls) => {
    const dense = await linear(ctx, cls, 'classifier.dense', h, h);
    return linear(ctx, activation(ctx, dense, 'gelu', '/classifier/act'), 'classifier.out_proj', h, cfg.numLabels, 'logits');
  });
}
