// The shipped QA model (models/bert-manqa) through qrun against PyTorch and the Python tokenizers
// library (tests/fixtures/bert-manqa/, written on the GPU machine by scripts/make-qa-model/):
//  - the native export's start/end logits against PyTorch float32 on the float16 checkpoint;
//  - the model's tokenizer with only_second truncation at 40 tokens: ids, types, offsets;
//  - the answers qrun picks (TypeScript pair encoder → onnxruntime → span choice) against those of
//    plugins/triton/python/question_answering.py run there with the real tokenizers library and
//    PyTorch's logits, on 60 evaluation pairs: same text and character span. That file follows
//    QuestionAnsweringPipeline.postprocess of transformers 4.x; transformers 5.17, on the GPU
//    machine, ships no question-answering pipeline to compare with directly.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { pairEncoder } from '../../data/pair-encoder.ts';
import { loadTokenizer } from '../../data/tokenizer.ts';
import { parseEncoderConfig } from '../../export/encoder-config.ts';
import { exportEncoder } from '../../export/export-encoder.ts';
import { CheckpointWeights } from '../../export/weight-source.ts';
import { encodeModel } from '../../onnx/model-io.ts';
import type { ModelProto } from '../../onnx/types.ts';
import { encoderFeeds, graphInputs } from '../../runtime/feeds.ts';
import { createSession } from '../../runtime/session.ts';
import { Checkpoint } from '../../safetensors/index.ts';
import { REPO } from '../../../tests/helpers/cli.ts';
import { answerOf } from './evaluate.ts';

const MODEL = join(REPO, 'models/bert-manqa');
const FIXTURES = join(REPO, 'tests/fixtures/bert-manqa');

let model: ModelProto;
let session: Awaited<ReturnType<typeof createSession>>;

async function logits(ids: number[], types: number[]) {
  const feeds = encoderFeeds(graphInputs(model.graph.input, new Set()), [ids], 0, undefined, [types]);
  const out = await session.run(feeds);
  return { start: out.start_logits!.data as Float32Array, end: out.end_logits!.data as Float32Array };
}

describe('models/bert-manqa against PyTorch and the transformers pipeline', () => {
  beforeAll(async () => {
    const cfg = parseEncoderConfig(JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8')) as Record<string, unknown>, 'config.json');
    const checkpoint = await Checkpoint.open(MODEL);
    try {
      model = (await exportEncoder(cfg, new CheckpointWeights(checkpoint))).model;
    } finally {
      await checkpoint.close();
    }
    session = await createSession(encodeModel(model), { intraOpThreads: 1 });
  });

  it('gives PyTorch float32 start/end logits within 1e-4', async () => {
    const ref = JSON.parse(readFileSync(join(FIXTURES, 'reference.json'), 'utf8')) as { items: { ids: number[]; token_type_ids: number[]; start_logits: number[]; end_logits: number[] }[] };
    expect(ref.items.length).toBeGreaterThanOrEqual(8);
    let worst = 0;
    for (const item of ref.items) {
      const out = await logits(item.ids, item.token_type_ids);
      item.start_logits.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - out.start[i]!))));
      item.end_logits.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - out.end[i]!))));
    }
    expect(worst).toBeLessThan(1e-4);
  });

  it('truncates only the context as the Python tokenizers library does, offsets included', async () => {
    const ref = JSON.parse(readFileSync(join(FIXTURES, 'truncation.json'), 'utf8')) as {
      max_length: number;
      items: { question: string; context: string; error?: string; ids: number[]; type_ids: number[]; offsets: [number, number][]; sequence_ids: number[] }[];
    };
    const encoder = pairEncoder(await loadTokenizer(join(MODEL, 'tokenizer.json'), join(MODEL, 'tokenizer_config.json')), ref.max_length);
    const ok = ref.items.filter((i) => !i.error);
    expect(ok.length).toBeGreaterThanOrEqual(20);
    for (const item of ref.items.filter((i) => i.error)) expect(() => encoder.encode(item.question, item.context)).toThrow(/no room/);
    const got = ok.map((item) => {
      const e = encoder.encode(item.question, item.context);
      return { ids: e.ids, types: e.typeIds, sequence: e.sequenceIds, offsets: e.contextOffsets };
    });
    expect(got).toEqual(ok.map((i) => ({ ids: i.ids, types: i.type_ids, sequence: i.sequence_ids, offsets: i.offsets.filter((_, k) => i.sequence_ids[k] === 1) })));
    expect(got.filter((g) => g.ids.length === ref.max_length).length).toBeGreaterThan(10);
  });

  it('answers as the Python answer model does with the real tokenizers library: same text and span on 60 evaluation pairs', async () => {
    const ref = JSON.parse(readFileSync(join(FIXTURES, 'answers.json'), 'utf8')) as {
      max_answer_len: number;
      max_seq_len: number;
      items: { question: string; context: string; answer: string; start: number; end: number; score: number }[];
    };
    expect(ref.items.length).toBeGreaterThanOrEqual(60);
    const encoder = pairEncoder(await loadTokenizer(join(MODEL, 'tokenizer.json'), join(MODEL, 'tokenizer_config.json')), ref.max_seq_len);
    const got = [];
    for (const item of ref.items) {
      const e = encoder.encode(item.question, item.context);
      const out = await logits(e.ids, e.typeIds);
      const a = answerOf({ ids: e.ids, typeIds: e.typeIds, label: null, qa: { id: '', context: item.context, answers: [], ...e } }, out.start, out.end, ref.max_answer_len);
      got.push({ answer: a.text, start: a.start, end: a.end, score: a.score });
    }
    expect(got.map(({ answer, start, end }) => ({ answer, start, end }))).toEqual(ref.items.map(({ answer, start, end }) => ({ answer, start, end })));
    got.forEach((g, i) => expect(g.score).toBeCloseTo(ref.items[i]!.score, 3));
  });
});
