// The shipped sentence-embedding model (models/embed-gettext, float16 weights) against
// sentence-transformers: the job that trained it (scripts/make-embed-model/train_embed.py) saved the
// token ids SentenceTransformer.tokenize gave for the first 64 evaluation texts and the float32
// vectors SentenceTransformer.encode gave for them (tests/fixtures/embed-gettext/reference.json).
// qrun's tokenizer must give the same ids, and the native export the same vectors within 1e-4.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../data/tokenizer.ts';
import { encodeModel } from '../../onnx/model-io.ts';
import { Checkpoint } from '../../safetensors/index.ts';
import { exportEncoder } from '../../export/export-encoder.ts';
import { parseEncoderConfig } from '../../export/encoder-config.ts';
import { referenceDiffs } from '../../export/testing.ts';
import { CheckpointWeights } from '../../export/weight-source.ts';
import { requireTask } from '../task.ts';
import { embeddingTask } from './index.ts';

const MODEL = fileURLToPath(new URL('../../../models/embed-gettext', import.meta.url));
const REFERENCE = fileURLToPath(new URL('../../../tests/fixtures/embed-gettext/reference.json', import.meta.url));

interface Reference {
  items: { text: string; ids: number[]; values: number[] }[];
  pad_token_id: number;
}

describe('models/embed-gettext against sentence-transformers', () => {
  const reference = JSON.parse(readFileSync(REFERENCE, 'utf8')) as Reference;

  it('qrun tokenizes the 64 reference texts to sentence-transformers’ ids', async () => {
    const tokenizer = await loadTokenizer(join(MODEL, 'tokenizer.json'), join(MODEL, 'tokenizer_config.json'));
    expect(reference.items).toHaveLength(64);
    const mismatched = reference.items.filter((i) => JSON.stringify(tokenizer.encode(i.text)) !== JSON.stringify(i.ids)).map((i) => i.text);
    expect(mismatched).toEqual([]);
  });

  it('the native export (task and pooling from the folder) gives sentence-transformers’ vectors within 1e-4, alone and padded', async () => {
    const config = parseEncoderConfig(JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8')), 'config.json');
    expect(requireTask({ modelDir: MODEL, architectures: config.architectures }, MODEL).task).toBe('embedding');
    const head = await embeddingTask.exportHead!({ cfg: config, modelDir: MODEL });
    expect(head.description).toBe('mean pooling + L2 normalisation (1_Pooling/config.json + 2_Normalize)');
    const checkpoint = await Checkpoint.open(MODEL);
    let bytes: Uint8Array;
    try {
      bytes = encodeModel((await exportEncoder(config, new CheckpointWeights(checkpoint), 'embedding', head.build)).model);
    } finally {
      await checkpoint.close();
    }
    const { single, batched } = await referenceDiffs(bytes, reference.items, reference.pad_token_id);
    expect(single).toBeLessThan(1e-4);
    expect(batched).toBeLessThan(1e-4);
  });
});
