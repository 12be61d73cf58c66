// RoBERTa and XLM-RoBERTa (modeling_roberta.py, modeling_xlm_roberta.py).
// Positions come from the padding: create_position_ids_from_input_ids is
//   mask = input_ids.ne(padding_idx); cumsum(mask, dim=1) * mask + padding_idx
// so the first real token is padding_idx + 1 and padding keeps padding_idx. The cumulative sum is
// done in float (exact below 2^24) and cast back: TensorRT has no int64 CumSum, and this is the
// graph qrun's `cumsum-int-to-float` patch would produce anyway.
// With type_vocab_size 1 (every released RoBERTa) the only token type is 0, so its embedding row is
// a constant and the model takes no token_type_ids, as optimum's RobertaOnnxConfig exports it.
// RobertaClassificationHead: first token → dense → tanh → out_proj; no pooler.
import type { ExportTask } from './encoder-config.ts';
import { bertStack, declareInputs, emitOutput, embeddingTable, lookup } from './encoder-parts.ts';
import { attrInt, DataType } from './graph-builder.ts';
import { layerNorm, linear, type ExportContext } from './layers.ts';

export async function buildRoberta(ctx: ExportContext, task: ExportTask): Promise<void> {
  const { g, w, cfg } = ctx;
  const h = cfg.hiddenSize;
  const pad = cfg.padTokenId;
  const inputs = declareInputs(ctx, cfg.typeVocabSize > 1);
  const scope = '/roberta/embeddings';

  const words = lookup(ctx, await embeddingTable(ctx, 'roberta.embeddings.word_embeddings', cfg.vocabSize, h, pad), inputs.inputIds, `${scope}/word_embeddings`);
  let types: string;
  if (inputs.tokenTypeIds) {
    types = lookup(ctx, await embeddingTable(ctx, 'roberta.embeddings.token_type_embeddings', cfg.typeVocabSize, h), inputs.tokenTypeIds, `${scope}/token_type_embeddings`);
  } else {
    const name = 'roberta.embeddings.token_type_embeddings.weight';
    types = g.weight(name, [1, h], await w.tensor(name, [cfg.typeVocabSize, h], { normal: true }));
  }

  const notPad = g.op('Not', [g.op('Equal', [inputs.inputIds, g.ints([pad], [])], { name: `${scope}/Equal` })], { name: `${scope}/Not` });
  const maskF = g.op('Cast', [notPad], { name: `${scope}/Cast`, attrs: [attrInt('to', DataType.FLOAT)] });
  const cumsum = g.op('CumSum', [maskF, g.ints([1], [])], { name: `${scope}/CumSum` });
  const positionsF = g.op('Add', [g.op('Mul', [cumsum, maskF], { name: `${scope}/Mul` }), g.scalar(pad)], { name: `${scope}/Add` });
  const positionIds = g.op('Cast', [positionsF], { name: `${scope}/Cast`, attrs: [attrInt('to', DataType.INT64)] });
  const table = await embeddingTable(ctx, 'roberta.embeddings.position_embeddings', cfg.maxPositions, h, pad);
  const positions = lookup(ctx, table, positionIds, `${scope}/position_embeddings`);

  const sum = g.op('Add', [g.op('Add', [words, types], { name: `${scope}/Add` }), positions], { name: `${scope}/Add` });
  const embeddings = await layerNorm(ctx, sum, 'roberta.embeddings.LayerNorm', h);
  const hidden = await bertStack(ctx, embeddings, inputs.attentionMask, 'roberta');
  await emitOutput(ctx, hidden, task, async (cls) => {
    const dense = g.op('Tanh', [await linear(ctx, cls, 'classifier.dense', h, h)], { name: '/classifier/Tanh' });
    return linear(ctx, dense, 'classifier.out_proj', h, cfg.numLabels, 'logits');
  });
}
