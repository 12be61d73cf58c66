// BERT (modeling_bert.py): BertEmbeddings → BertEncoder; BertForSequenceClassification pools the
// [CLS] state through BertPooler (dense + tanh) before `classifier`.
import type { ExportTask } from './encoder-config.ts';
import { bertEmbeddings, bertStack, declareInputs, emitOutput } from './encoder-parts.ts';
import { linear, type ExportContext } from './layers.ts';

export async function buildBert(ctx: ExportContext, task: ExportTask): Promise<void> {
  const { g, cfg } = ctx;
  const h = cfg.hiddenSize;
  const inputs = declareInputs(ctx, true);
  const embeddings = await bertEmbeddings(ctx, 'bert', inputs, h);
  const hidden = await bertStack(ctx, embeddings, inputs.attentionMask, 'bert');
  await emitOutput(ctx, hidden, task, async (cls) => {
    const pooled = g.op('Tanh', [await linear(ctx, cls, 'bert.pooler.dense', h, h)], { name: '/bert/pooler/Tanh' });
    return linear(ctx, pooled, 'classifier', h, cfg.numLabels, 'logits');
  });
}
