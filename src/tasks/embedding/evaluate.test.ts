// bench's embedding evaluation on real onnxruntime sessions of small exported models: a model
// compared with itself agrees fully; a model whose output is token states (an ONNX file exported for
// sentence-transformers' Python pooling) is refused with the fix, not scored as rows of numbers.
import { describe, expect, it } from 'vitest';
import { tokenizedBatches } from '../../data/model-batches.ts';
import type { TokenizedDataset } from '../../data/tokenized-dataset.ts';
import { QrunError } from '../../errors.ts';
import { exportEncoder } from '../../export/export-encoder.ts';
import { parseEncoderConfig } from '../../export/encoder-config.ts';
import { RandomWeights } from '../../export/weight-source.ts';
import { encodeModel } from '../../onnx/model-io.ts';
import { createSession } from '../../runtime/session.ts';
import type { TaskEvaluation } from '../task.ts';
import { evaluateEmbeddings } from './evaluate.ts';
import { poolingHead } from './head.ts';

const CONFIG = parseEncoderConfig(
  { model_type: 'bert', vocab_size: 60, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 32, initializer_range: 0.5 },
  'config.json',
);
// 16 texts in 4 groups of 4, of 3 to 6 tokens.
const DATASET: TokenizedDataset = {
  name: 'evaluation',
  maxLength: 32,
  padId: 0,
  labels: ['a', 'b', 'c', 'd'],
  samples: Array.from({ length: 16 }, (_, i) => ({ ids: [2, ...Array.from({ length: 1 + (i % 4) }, (_, k) => 5 + ((i * 7 + k * 3) % 50)), 3], label: 'abcd'[i % 4]!, line: i + 1 })),
};

async function evaluation(task: 'embedding' | 'base'): Promise<TaskEvaluation> {
  const { model } = await exportEncoder(CONFIG, new RandomWeights(3, CONFIG.initializerRange), task, task === 'embedding' ? poolingHead({ mode: 'mean', normalize: true, from: 'test' }) : undefined);
  const bytes = encodeModel(model);
  const batches = tokenizedBatches(model, DATASET, 8);
  return {
    fp32: await createSession(bytes, { intraOpThreads: 1 }),
    int8: await createSession(bytes, { intraOpThreads: 1 }),
    fp32Batches: batches,
    int8Batches: batches,
    dataset: DATASET,
    signal: new AbortController().signal,
    progress: () => {},
  };
}

describe('evaluateEmbeddings', () => {
  it('a model against itself: recall@10, cosine and Spearman 1, the same retrieval accuracy, headline filled', async () => {
    const run = await evaluation('embedding');
    const scores = await evaluateEmbeddings(run);
    expect(scores.metrics).toMatchObject({ texts: 16, dimension: 16, recallAt10: 1, maxAbsError: 0, output: 'sentence_embedding' });
    expect(scores.metrics.meanCosine).toBeCloseTo(1, 6);
    expect(scores.metrics.spearman).toBeCloseTo(1, 9);
    expect(scores.metrics.fp32RetrievalAccuracy).toBe(scores.metrics.int8RetrievalAccuracy);
    expect(scores.headline).toMatchObject({ agreement: 1, maxAbsError: 0, fp32Accuracy: scores.metrics.fp32RetrievalAccuracy });
  });

  it('refuses a model that returns last_hidden_state (EMBEDDING_OUTPUT, with onnx.export as the fix)', async () => {
    const run = await evaluation('base');
    const error = await evaluateEmbeddings(run).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QrunError);
    expect((error as QrunError).code).toBe('EMBEDDING_OUTPUT');
    expect((error as QrunError).message).toContain('last_hidden_state');
    expect((error as QrunError).diagnostics[0]!.hint).toContain('onnx.export');
  });
});
