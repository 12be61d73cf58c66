// Graph inputs, embeddings, the layer stack and the task heads' outputs shared by the families.
import type { ExportTask } from './encoder-config.ts';
import { DataType } from './graph-builder.ts';
import { questionAnsweringHead } from './qa-head.ts';
import { additiveMask, bertBlockNames, firstToken, layerNorm, leadingPositions, linear, transformerBlock, type BlockNames, type ExportContext } from './layers.ts';

/** Batch and sequence are symbolic, so one model serves every shape (and TensorRT profiles). */
export const TOKENS: (number | string)[] = ['batch', 'sequence'];

export interface EncoderInputs {
  inputIds: string;
  attentionMask: string;
  tokenTypeIds?: string;
}

/** input_ids, attention_mask and (when the model has token types) token_type_ids, int64 as in PyTorch. */
export function declareInputs(ctx: ExportContext, tokenTypes: boolean): EncoderInputs {
  const { g } = ctx;
  return {
    inputIds: g.input('input_ids', DataType.INT64, TOKENS),
    attentionMask: g.input('attention_mask', DataType.INT64, TOKENS),
    tokenTypeIds: tokenTypes ? g.input('token_type_ids', DataType.INT64, TOKENS) : undefined,
  };
}

/** Gather of rows of an embedding table `${prefix}.weight` [rows, size]. */
export async function embeddingTable(ctx: ExportContext, prefix: string, rows: number, size: number, paddingRow?: number): Promise<string> {
  const values = await ctx.w.tensor(`${prefix}.weight`, [rows, size], { normal: true, paddingRow });
  return ctx.g.weight(`${prefix}.weight`, [rows, size], values);
}

export function lookup(ctx: ExportContext, table: string, indices: string, scope: string): string {
  return ctx.g.op('Gather', [table, indices], { name: `${scope}/Gather` });
}

/**
 * BertEmbeddings.forward (also ElectraEmbeddings): LayerNorm((word + token_type) + position), with
 * positions 0…seq−1. `size` is hidden_size, or ELECTRA's embedding_size.
 */
export async function bertEmbeddings(ctx: ExportContext, prefix: string, inputs: EncoderInputs, size: number): Promise<string> {
  const { g, cfg } = ctx;
  const scope = `/${prefix}/embeddings`;
  const words = lookup(ctx, await embeddingTable(ctx, `${prefix}.embeddings.word_embeddings`, cfg.vocabSize, size, cfg.padTokenId), inputs.inputIds, `${scope}/word_embeddings`);
  const types = lookup(ctx, await embeddingTable(ctx, `${prefix}.embeddings.token_type_embeddings`, cfg.typeVocabSize, size), inputs.tokenTypeIds!, `${scope}/token_type_embeddings`);
  const table = await embeddingTable(ctx, `${prefix}.embeddings.position_embeddings`, cfg.maxPositions, size);
  const positions = leadingPositions(ctx, table, inputs.inputIds, `${scope}/position_embeddings`);
  const sum = g.op('Add', [g.op('Add', [words, types], { name: `${scope}/Add` }), positions], { name: `${scope}/Add` });
  return layerNorm(ctx, sum, `${prefix}.embeddings.LayerNorm`, size);
}

/** The layer stack; `names(i)` gives the weight prefixes of block i. */
export async function encoderStack(ctx: ExportContext, x: string, attentionMask: string, names: (i: number) => BlockNames, scope: (i: number) => string): Promise<string> {
  const mask = additiveMask(ctx, attentionMask);
  let hidden = x;
  for (let i = 0; i < ctx.cfg.layers; i++) hidden = await transformerBlock(ctx, hidden, mask, names(i), scope(i));
  return hidden;
}

/** BERT-named stack under `${prefix}.encoder.layer.N` (BERT, RoBERTa, ELECTRA). */
export function bertStack(ctx: ExportContext, x: string, attentionMask: string, prefix: string): Promise<string> {
  return encoderStack(ctx, x, attentionMask, (i) => bertBlockNames(`${prefix}.encoder.layer.${i}`), (i) => `/${prefix}/encoder/layer.${i}`);
}

/**
 * The task's output. Sequence classification runs the family's head on the first token's hidden
 * state → `logits` [batch, labels]; token classification is `classifier` on every token
 * (…ForTokenClassification) → `logits` [batch, sequence, labels]; base → `last_hidden_state`; a task's
 * own head (ctx.head: embedding pooling, QA spans) → whatever it declares.
 */
export async function emitOutput(
  ctx: ExportContext,
  hidden: string,
  task: ExportTask,
  sequenceHead: (cls: string) => Promise<string>,
): Promise<void> {
  const { g, cfg } = ctx;
  if (ctx.head) {
    await ctx.head(ctx, hidden);
    return;
  }
  if (task === 'sequence-classification') {
    const logits = await sequenceHead(firstToken(ctx, hidden, '/head'));
    g.output(logits, DataType.FLOAT, ['batch', cfg.numLabels]);
  } else if (task === 'token-classification') {
    const logits = await linear(ctx, hidden, 'classifier', cfg.hiddenSize, cfg.numLabels, 'logits');
    g.output(logits, DataType.FLOAT, ['batch', 'sequence', cfg.numLabels]);
  } else if (task === 'question-answering') {
    await questionAnsweringHead(ctx, hidden);
  } else if (task === 'base') {
    g.output(g.rename(hidden, 'last_hidden_state'), DataType.FLOAT, ['batch', 'sequence', cfg.hiddenSize]);
  } else {
    // Embedding has no family-specific head: src/tasks/<task> gives one.
    throw new Error(`no export head for task "${task}": the caller must pass the task's head (src/tasks/registry.ts)`);
  }
}
