// Batches of question + context pairs carry their token types (1 on the context) to the model, in
// calibration and evaluation alike (tokenizedBatches), padded with 0 like the ids with padId.
import { describe, expect, it } from 'vitest';
import { readModelGraph } from '../runtime/model-file.ts';
import { BERT_ONNX } from '../../tests/helpers/bert-langid.ts';
import { tokenizedBatches } from './model-batches.ts';
import type { TokenizedDataset } from './tokenized-dataset.ts';

const dataset: TokenizedDataset = {
  name: 'evaluation',
  maxLength: 32,
  padId: 0,
  labels: [],
  samples: [
    { ids: [2, 10, 3, 20, 21, 3], typeIds: [0, 0, 0, 1, 1, 1], label: null },
    { ids: [2, 10, 11, 3, 20, 3, 9, 9], typeIds: [0, 0, 0, 0, 1, 1, 1, 1], label: null },
  ],
};

describe('token types in tokenized batches', () => {
  it('feeds each pair its own token types, padded with 0', async () => {
    const model = await readModelGraph(BERT_ONNX);
    const batches = tokenizedBatches(model, dataset, 8, 0, true);
    expect(batches.batches).toHaveLength(1);
    const feeds = batches.batches[0]!.feeds();
    expect(feeds.token_type_ids!.dims).toEqual([2, 8]);
    expect(Array.from(feeds.token_type_ids!.data as BigInt64Array, Number)).toEqual([0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
    expect(Array.from(feeds.attention_mask!.data as BigInt64Array, Number)).toEqual([1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
  });

  it('keeps zeros for single texts', async () => {
    const model = await readModelGraph(BERT_ONNX);
    const single = { ...dataset, samples: dataset.samples.map(({ ids, label }) => ({ ids, label })) };
    const feeds = tokenizedBatches(model, single, 8, 0, true).batches[0]!.feeds();
    expect(Array.from(feeds.token_type_ids!.data as BigInt64Array, Number).every((v) => v === 0)).toBe(true);
  });
});
