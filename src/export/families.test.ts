// Every family and head against PyTorch (transformers 5.17) on the small random checkpoints in
// fixtures/ (made by fixtures/make_fixtures.py): RoBERTa, XLM-RoBERTa, DistilBERT, ELECTRA and BERT
// with sequence-classification, token-classification and base heads, F16 / BF16 / sharded
// checkpoints. Outputs within 1e-4 of PyTorch float32, one sequence at a time and padded in a batch.
// Every family has a …ForTokenClassification case (bert-, roberta-, distilbert-token from
// fixtures/make_token_fixtures.py, run by the device job t3-ner; electra- and xlm-roberta-token).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { encodeModel } from '../onnx/model-io.ts';
import { Checkpoint } from '../safetensors/index.ts';
import { exportEncoder } from './export-encoder.ts';
import { parseEncoderConfig } from './encoder-config.ts';
import { referenceDiffs, type ReferenceItem } from './testing.ts';
import { CheckpointWeights } from './weight-source.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures', import.meta.url));
const cases = readdirSync(FIXTURES).filter((d) => statSync(join(FIXTURES, d)).isDirectory()).sort();

interface Reference {
  architecture: string;
  pad_token_id: number;
  output: string;
  items: ReferenceItem[];
}

describe('native export against PyTorch on small checkpoints of each family', () => {
  it('has the fixtures', () => {
    expect(cases).toEqual([
      'bert-base-sharded',
      'bert-gelu-new-f16',
      'bert-token',
      'distilbert-base-bf16',
      'distilbert-seq',
      'distilbert-token',
      'electra-seq',
      'electra-token',
      'roberta-seq',
      'roberta-token',
      'roberta-tt2-base',
      'xlm-roberta-token',
    ]);
  });

  it.each(cases)('%s: outputs within 1e-4 of PyTorch, alone and padded in a batch', async (name) => {
    const dir = join(FIXTURES, name);
    const reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Reference;
    const config = parseEncoderConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), join(dir, 'config.json'));
    const checkpoint = await Checkpoint.open(dir);
    let bytes: Uint8Array;
    try {
      const { model } = await exportEncoder(config, new CheckpointWeights(checkpoint));
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
