// bench's token-classification evaluation on real sessions (a small random-weight BERT token
// classifier exported by qrun, run by onnxruntime): a model against itself agrees on every entity;
// against a model with other weights the entity F1 drops and the sentences that differ are listed;
// gold F1 is the seqeval score of the tags each model predicts at the words' first tokens; a word
// truncation cut is tagged O (so a gold entity there is missed).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { tokenizedBatches } from '../../data/model-batches.ts';
import { loadTokenizer } from '../../data/tokenizer.ts';
import { exportEncoder, parseEncoderConfig, RandomWeights } from '../../export/index.ts';
import { encodeModel } from '../../onnx/model-io.ts';
import type { ModelProto } from '../../onnx/types.ts';
import { BERT_DIR } from '../../../tests/helpers/bert-langid.ts';
import { useTempDir } from '../../../tests/helpers/temp.ts';
import { scoreEntities } from './chunks.ts';
import { tokenizeTokenClassificationData, type TokenClassificationDataset } from './data.ts';
import { evaluateTokenClassification } from './evaluate.ts';

const LABELS = ['O', 'B-PATH', 'I-PATH', 'B-FMT', 'I-FMT'];
const RAW = {
  model_type: 'bert',
  architectures: ['BertForTokenClassification'],
  vocab_size: 4000,
  hidden_size: 16,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  intermediate_size: 32,
  max_position_embeddings: 64,
  id2label: Object.fromEntries(LABELS.map((l, i) => [String(i), l])),
};
const ROWS = [
  { tokens: ['cannot', 'open', '/', 'etc', '/', 'passwd'], tags: ['O', 'O', 'B-PATH', 'I-PATH', 'I-PATH', 'I-PATH'] },
  { tokens: ['%', 's', ':', 'not', 'found'], tags: ['B-FMT', 'I-FMT', 'O', 'O', 'O'] },
  { tokens: ['value', '%', 'd', 'is', 'too', 'large'], tags: ['O', 'B-FMT', 'I-FMT', 'O', 'O', 'O'] },
  // 22 words: with max_length 16, the last ones (a gold entity among them) have no token.
  { tokens: [...'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen'.split(' '), '/', 'tmp', '%', 's'], tags: [...Array<string>(18).fill('O'), 'B-PATH', 'I-PATH', 'B-FMT', 'I-FMT'] },
];

describe('evaluateTokenClassification', () => {
  const dir = useTempDir();
  let model: ModelProto;
  let same: ort.InferenceSession;
  let other: ort.InferenceSession;
  let dataset: TokenClassificationDataset;

  beforeAll(async () => {
    const cfg = parseEncoderConfig(RAW, 'config.json');
    model = (await exportEncoder(cfg, new RandomWeights(1, 0.5))).model;
    same = await ort.InferenceSession.create(encodeModel(model));
    other = await ort.InferenceSession.create(encodeModel((await exportEncoder(cfg, new RandomWeights(2, 0.5))).model));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(RAW));
    const file = join(dir, 'eval.jsonl');
    writeFileSync(file, ROWS.map((r) => JSON.stringify(r)).join('\n'));
    const tok = await loadTokenizer(join(BERT_DIR, 'tokenizer.json'), undefined, 16);
    dataset = (await tokenizeTokenClassificationData(file, tok, 'evaluation', { dir, config: RAW })) as unknown as TokenClassificationDataset;
  });

  const run = (fp32: ort.InferenceSession, int8: ort.InferenceSession) => {
    const batches = tokenizedBatches(model, dataset as never, 2);
    return evaluateTokenClassification({ fp32, int8, fp32Batches: batches, int8Batches: batches, dataset: dataset as never, hfDir: dir, signal: new AbortController().signal, progress: () => {} });
  };

  it('a model against itself: entity F1 1, every tag the same, cosine 1, no differences', async () => {
    const { metrics, headline } = await run(same, same);
    expect(metrics).toMatchObject({ sentences: 4, words: 39, truncatedWords: dataset.samples[3]!.wordStarts.filter((t) => t < 0).length, f1VsFp32: 1, tagAgreement: 1, maxAbsError: 0, differences: [] });
    expect(metrics.truncatedWords as number).toBeGreaterThanOrEqual(4);
    expect(metrics.minCosine).toBeCloseTo(1, 6);
    expect(headline).toMatchObject({ agreement: 1, fp32Accuracy: metrics.fp32F1, int8Accuracy: metrics.int8F1 });
    expect(metrics.f1Drop).toBe(0);
    expect(metrics.entities).toBe(5);
  });

  it('gold F1 scores the tags at each word’s first token (O where truncation cut the word); another model differs', async () => {
    // FP32's tags by hand: argmax at each word's first token, O where truncation cut the word.
    const handTags: string[][] = [];
    for (const s of dataset.samples) {
      const t = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, v.length]);
      const out = await same.run({ input_ids: t(s.ids), attention_mask: t(s.ids.map(() => 1)), token_type_ids: t(s.ids.map(() => 0)) });
      const logits = out.logits!.data as Float32Array;
      handTags.push(s.wordStarts.map((start) => (start < 0 ? 'O' : LABELS[[...logits.slice(start * 5, start * 5 + 5)].reduce((b, v, j, a) => (v > a[b]! ? j : b), 0)]!)));
    }
    expect(handTags[3]!.slice(-4)).toEqual(Array(4).fill('O'));
    expect(scoreEntities(handTags, handTags).support).toBeGreaterThan(3);
    // With those tags as the gold, FP32 scores exactly 1 and the other model less.
    const gold = dataset.samples.map((s, i) => ({ ...s, tags: handTags[i]! }));
    const withGold = { ...dataset, samples: gold };
    const batches = tokenizedBatches(model, withGold as never, 2);
    const { metrics } = await evaluateTokenClassification({ fp32: same, int8: other, fp32Batches: batches, int8Batches: batches, dataset: withGold as never, hfDir: dir, signal: new AbortController().signal, progress: () => {} });
    expect(metrics.fp32F1).toBe(1);
    expect(metrics.int8F1 as number).toBeLessThan(1);
    expect(metrics.f1VsFp32).toBe(metrics.int8F1);
    expect((metrics.differences as unknown[]).length).toBeGreaterThan(0);
    expect(metrics.maxAbsError as number).toBeGreaterThan(0);
  });
});
