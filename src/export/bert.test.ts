// The native BERT export against PyTorch: float32 logits of the shipped model on 64 evaluation
// texts (tests/fixtures/bert-langid/reference.json), one at a time and padded into one batch.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeModel } from '../onnx/model-io.ts';
import { Checkpoint } from '../safetensors/index.ts';
import { exportEncoder, type ExportResult } from './export-encoder.ts';
import { parseEncoderConfig } from './encoder-config.ts';
import { referenceDiffs, type ReferenceItem } from './testing.ts';
import { CheckpointWeights } from './weight-source.ts';

const MODEL_DIR = fileURLToPath(new URL('../../models/bert-langid', import.meta.url));
const REFERENCE = fileURLToPath(new URL('../../tests/fixtures/bert-langid/reference.json', import.meta.url));
const config = () => parseEncoderConfig(JSON.parse(readFileSync(join(MODEL_DIR, 'config.json'), 'utf8')), 'config.json');

async function exportShipped(task?: Parameters<typeof exportEncoder>[2]): Promise<ExportResult> {
  const checkpoint = await Checkpoint.open(MODEL_DIR);
  try {
    return await exportEncoder(config(), new CheckpointWeights(checkpoint), task);
  } finally {
    await checkpoint.close();
  }
}

describe('native BERT export of models/bert-langid', () => {
  let result: ExportResult;
  beforeAll(async () => {
    result = await exportShipped();
  });

  it('is a sequence classifier with dynamic batch and sequence, opset 17, IR 8', () => {
    const { model } = result;
    expect(result.task).toBe('sequence-classification');
    expect(model.irVersion).toBe(8);
    expect(model.opsetImport).toEqual([{ domain: '', version: 17 }]);
    expect(model.graph.input.map((i) => i.name)).toEqual(['input_ids', 'attention_mask', 'token_type_ids']);
    const dims = (v: (typeof model.graph.output)[number]) => v.type!.tensorType!.shape!.dim.map((d) => d.dimParam ?? d.dimValue);
    expect(dims(model.graph.input[0]!)).toEqual(['batch', 'sequence']);
    expect(model.graph.output.map((o) => [o.name, dims(o)])).toEqual([['logits', ['batch', 9]]]);
    // Every tensor of the checkpoint, used once: 1,339,657 parameters.
    expect(result.parameters).toBe(1_339_657);
    const ops = new Set(model.graph.node.map((n) => n.opType));
    expect(ops.has('Erf')).toBe(true); // exact GELU at opset 17
    expect(model.graph.node.filter((n) => n.opType === 'MatMul')).toHaveLength(4 * 8 + 2);
  });

  it('gives PyTorch float32 logits within 1e-4 on every reference text, alone and padded in one batch', async () => {
    const reference = JSON.parse(readFileSync(REFERENCE, 'utf8')) as { items: { ids: number[]; logits: number[] }[] };
    expect(reference.items).toHaveLength(64);
    const items: ReferenceItem[] = reference.items.map((i) => ({ ids: i.ids, values: i.logits }));
    const { single, batched } = await referenceDiffs(encodeModel(result.model), items, 0);
    expect(single).toBeLessThan(1e-4);
    expect(batched).toBeLessThan(1e-4);
  });

  it('builds the same bytes twice', async () => {
    const again = await exportShipped();
    expect(Buffer.from(encodeModel(again.model)).equals(Buffer.from(encodeModel(result.model)))).toBe(true);
  });

  it('exports the base model (last_hidden_state) and a token-classification head on request', async () => {
    const base = await exportShipped('base');
    expect(base.model.graph.output.map((o) => o.name)).toEqual(['last_hidden_state']);
    expect(base.model.graph.node.some((n) => n.name?.includes('pooler'))).toBe(false);
    // The checkpoint has a sequence head only: a token head needs classifier.weight of shape [9, 128]
    // applied per token, which the same tensor satisfies, so this builds, with a 3-D output.
    const token = await exportShipped('token-classification');
    expect(token.model.graph.output[0]!.type!.tensorType!.shape!.dim.map((d) => d.dimParam ?? d.dimValue)).toEqual(['batch', 'sequence', 9]);
  });
});
