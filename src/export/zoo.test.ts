// The native export against the trained zoo's PyTorch references (tests/fixtures/zoo/<arch>/:
// config.json, model.safetensors, reference.json with token ids and float32 logits), for the
// families the native exporter builds. Within 1e-4, alone and padded in a batch.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { encodeModel } from '../onnx/model-io.ts';
import { Checkpoint } from '../safetensors/index.ts';
import { exportEncoder } from './export-encoder.ts';
import { parseEncoderConfig } from './encoder-config.ts';
import { referenceDiffs } from './testing.ts';
import { CheckpointWeights } from './weight-source.ts';

const ZOO = fileURLToPath(new URL('../../tests/fixtures/zoo', import.meta.url));
const FAMILIES = ['bert', 'distilbert', 'electra', 'roberta', 'xlm-roberta'];

describe('native export against the zoo (tests/fixtures/zoo)', () => {
  it.each(FAMILIES)('%s: logits within 1e-4 of PyTorch, alone and padded in a batch', async (arch) => {
    const dir = join(ZOO, arch);
    const reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as { pad_token_id: number; items: { ids: number[]; logits: number[] }[] };
    const config = parseEncoderConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), join(dir, 'config.json'));
    const checkpoint = await Checkpoint.open(dir);
    let bytes: Uint8Array;
    try {
      bytes = encodeModel((await exportEncoder(config, new CheckpointWeights(checkpoint))).model);
    } finally {
      await checkpoint.close();
    }
    const items = reference.items.map((i) => ({ ids: i.ids, values: i.logits }));
    expect(items.length).toBeGreaterThan(0);
    const { single, batched } = await referenceDiffs(bytes, items, reference.pad_token_id);
    expect(single).toBeLessThan(1e-4);
    expect(batched).toBeLessThan(1e-4);
  });
});
