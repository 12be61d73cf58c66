// The question-answering head (qa-head.ts) of every native family against PyTorch: small random
// *ForQuestionAnswering checkpoints in fixtures-qa/ (scripts/make-qa-model/make_qa_fixtures.py, run on
// the GPU machine with transformers 5.17) with the start/end logits of question + context pairs
// (token types 1 on the context where the family has them), within 1e-4, alone and padded in a batch.
// And, independent of any fixture: the head is exactly qa_outputs applied to last_hidden_state.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { encodeModel } from '../onnx/model-io.ts';
import { encoderFeeds, graphInputs } from '../runtime/feeds.ts';
import { createSession } from '../runtime/session.ts';
import { Checkpoint } from '../safetensors/index.ts';
import { parseEncoderConfig } from './encoder-config.ts';
import { exportEncoder } from './export-encoder.ts';
import { QA_END_OUTPUT, QA_START_OUTPUT } from './qa-head.ts';
import { CheckpointWeights, RandomWeights } from './weight-source.ts';
import type { ModelProto } from '../onnx/types.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures-qa', import.meta.url));
const cases = readdirSync(FIXTURES).filter((d) => statSync(join(FIXTURES, d)).isDirectory()).sort();

interface Reference {
  architecture: string;
  pad_token_id: number;
  items: { ids: number[]; token_type_ids: number[]; start_logits: number[]; end_logits: number[] }[];
}

async function run(model: ModelProto, rows: number[][], types: number[][], padId: number) {
  const bytes = encodeModel(model);
  const session = await createSession(bytes, { intraOpThreads: 1 });
  try {
    const feeds = encoderFeeds(graphInputs(model.graph.input, new Set(model.graph.initializer.map((t) => t.name ?? ''))), rows, padId, undefined, types);
    const out = await session.run(feeds);
    return out;
  } finally {
    await session.release();
  }
}

const maxDiff = (a: ArrayLike<number>, b: number[]) => b.reduce((m, v, i) => Math.max(m, Math.abs(v - a[i]!)), a.length >= b.length ? 0 : Infinity);

describe('question-answering head of the native exporter', () => {
  it('has a PyTorch fixture per family', () => {
    expect(cases).toEqual(['bert-qa', 'distilbert-qa', 'electra-qa', 'roberta-qa', 'xlm-roberta-qa']);
  });

  it.each(cases)('%s: start/end logits within 1e-4 of PyTorch, alone and padded in a batch', async (name) => {
    const dir = join(FIXTURES, name);
    const reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Reference;
    const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const config = parseEncoderConfig(raw, join(dir, 'config.json'));
    const checkpoint = await Checkpoint.open(dir);
    let model: ModelProto;
    try {
      // The task comes from architectures (…ForQuestionAnswering), with no head passed in.
      const result = await exportEncoder(config, new CheckpointWeights(checkpoint));
      expect(result.task).toBe('question-answering');
      model = result.model;
    } finally {
      await checkpoint.close();
    }
    expect(model.graph.output.map((o) => [o.name, o.type!.tensorType!.shape!.dim.map((d) => d.dimParam)])).toEqual([
      [QA_START_OUTPUT, ['batch', 'sequence']],
      [QA_END_OUTPUT, ['batch', 'sequence']],
    ]);
    let single = 0;
    for (const item of reference.items) {
      const out = await run(model, [item.ids], [item.token_type_ids], reference.pad_token_id);
      single = Math.max(single, maxDiff(out[QA_START_OUTPUT]!.data as Float32Array, item.start_logits), maxDiff(out[QA_END_OUTPUT]!.data as Float32Array, item.end_logits));
    }
    const out = await run(model, reference.items.map((i) => i.ids), reference.items.map((i) => i.token_type_ids), reference.pad_token_id);
    const seq = out[QA_START_OUTPUT]!.dims[1]!;
    let batched = 0;
    reference.items.forEach((item, r) => {
      const n = item.ids.length;
      const rowOf = (name: string) => (out[name]!.data as Float32Array).subarray(r * seq, r * seq + n);
      batched = Math.max(batched, maxDiff(rowOf(QA_START_OUTPUT), item.start_logits), maxDiff(rowOf(QA_END_OUTPUT), item.end_logits));
    });
    expect(single).toBeLessThan(1e-4);
    expect(batched).toBeLessThan(1e-4);
  });

  it('is qa_outputs on the last hidden state: start = h·W[0] + b[0], end = h·W[1] + b[1]', async () => {
    const raw = { model_type: 'bert', architectures: ['BertForQuestionAnswering'], vocab_size: 50, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 32 };
    const cfg = parseEncoderConfig(raw, 'config.json');
    const qa = await exportEncoder(cfg, new RandomWeights(7, 0.5), 'question-answering');
    const base = await exportEncoder(cfg, new RandomWeights(7, 0.5), 'base');
    const rows = [[2, 10, 11, 3, 20, 21, 22, 3]];
    const types = [[0, 0, 0, 0, 1, 1, 1, 1]];
    const q = await run(qa.model, rows, types, 0);
    const h = (await run(base.model, rows, types, 0)).last_hidden_state!.data as Float32Array;
    // RandomWeights draws a [cols, rows] matrix directly for transposed weights; read it the same way.
    const wt = await new RandomWeights(7, 0.5).transposed('qa_outputs.weight', [2, 16], { normal: true });
    const expectedT = (k: number) => rows[0]!.map((_, t) => Array.from({ length: 16 }, (_, j) => h[t * 16 + j]! * wt[j * 2 + k]!).reduce((a, b) => a + b, 0));
    expect(maxDiff(q[QA_START_OUTPUT]!.data as Float32Array, expectedT(0))).toBeLessThan(1e-5);
    expect(maxDiff(q[QA_END_OUTPUT]!.data as Float32Array, expectedT(1))).toBeLessThan(1e-5);
    expect(Math.max(...expectedT(0).map(Math.abs))).toBeGreaterThan(0.1);
  });
});
