// The native export of sentence-transformers models against sentence-transformers itself: tiny random
// models of every family (mean, CLS and max pooling, with and without Normalize, and a bare BertModel
// named `task: embedding`), saved by SentenceTransformer.save with the embeddings
// SentenceTransformer.encode gave for a few texts (fixtures/, made by the device job t1-embed:
// scripts/device/jobs/t1-embed/make_st_fixtures.py). Each folder goes through what onnx.export does —
// task detection, the pooling read from the folder, the family's encoder — and onnxruntime must give
// sentence-transformers' vectors within 1e-4, one text at a time and padded in one batch.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { encodeModel } from '../../onnx/model-io.ts';
import { Checkpoint } from '../../safetensors/index.ts';
import { exportEncoder } from '../../export/export-encoder.ts';
import { parseEncoderConfig } from '../../export/encoder-config.ts';
import { referenceDiffs, type ReferenceItem } from '../../export/testing.ts';
import { CheckpointWeights } from '../../export/weight-source.ts';
import { requireTask } from '../task.ts';
import { embeddingTask } from './index.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures', import.meta.url));
// Folders with a reference.json: a stray __pycache__ (or any other folder) is not a case.
const cases = existsSync(FIXTURES) ? readdirSync(FIXTURES).filter((d) => statSync(join(FIXTURES, d)).isDirectory() && existsSync(join(FIXTURES, d, 'reference.json'))).sort() : [];

interface Reference {
  architecture: string;
  pad_token_id: number;
  output: string;
  pooling: string;
  normalize: boolean;
  sentence_transformers_layout: boolean;
  items: ReferenceItem[];
}

describe('native embedding export against sentence-transformers on small models of each family', () => {
  it('has the fixtures: five families, three pooling modes, with and without Normalize, and a bare checkpoint', () => {
    expect(cases).toEqual([
      'bert-bare',
      'bert-cls',
      'bert-max',
      'bert-mean-norm',
      'distilbert-cls-norm',
      'distilbert-mean',
      'electra-cls',
      'electra-mean-norm',
      'roberta-cls-norm',
      'roberta-mean',
      'xlm-roberta-mean-norm',
    ]);
  });

  it.each(cases)('%s: sentence_embedding within 1e-4 of SentenceTransformer.encode, alone and padded in a batch', async (name) => {
    const dir = join(FIXTURES, name);
    const reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Reference;
    const config = parseEncoderConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), join(dir, 'config.json'));
    // As onnx.export decides: a sentence-transformers folder is an embedding model by itself; the
    // bare checkpoint is one only when the recipe says so.
    const task = requireTask({ explicit: reference.sentence_transformers_layout ? undefined : 'embedding', modelDir: dir, architectures: config.architectures }, dir);
    expect(task).toMatchObject({ task: 'embedding', from: reference.sentence_transformers_layout ? 'sentence-transformers' : 'recipe' });
    const head = await embeddingTask.exportHead!({ cfg: config, modelDir: dir });
    expect(head.description).toMatch(new RegExp(`^${reference.pooling} pooling${reference.normalize ? ' \\+ L2 normalisation' : ''} `));
    const checkpoint = await Checkpoint.open(dir);
    let bytes: Uint8Array;
    try {
      const { model } = await exportEncoder(config, new CheckpointWeights(checkpoint), 'embedding', head.build);
      expect(model.graph.output.map((o) => o.name)).toEqual([reference.output]);
      bytes = encodeModel(model);
    } finally {
      await checkpoint.close();
    }
    const { single, batched } = await referenceDiffs(bytes, reference.items, reference.pad_token_id);
    expect(single).toBeLessThan(1e-4);
    expect(batched).toBeLessThan(1e-4);
  });
});
