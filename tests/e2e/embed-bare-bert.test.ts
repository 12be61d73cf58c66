// A bare BERT checkpoint (BertModel: config.json, model.safetensors and a tokenizer, no head, no
// ONNX) through the real CLI as a sentence-embedding model: without `task:` onnx.export cannot tell
// what to build and says to name the task; with `task: embedding` it is exported with mean pooling,
// quantized, served by a Triton repository that returns embeddings, and benched with the embedding
// metrics, gated. The checkpoint is models/bert-langid's encoder with its config saying BertModel.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/data/tokenizer.ts';
import { truncateSingle } from '../../src/tasks/embedding/data.ts';
import { BERT_DIR } from '../helpers/bert-langid.ts';
import { qrun, REPO, tempDir } from '../helpers/cli.ts';
import { latestReport, step } from '../helpers/report.ts';
import { startLoopbackTriton } from '../helpers/triton-server.ts';

const MAX_SEQ = 24;
const EVAL_TEXTS = readFileSync(join(REPO, 'data/embed/eval.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, 80);

function bareBert(root: string): string {
  const dir = join(root, 'bert-bare');
  mkdirSync(dir);
  const config = JSON.parse(readFileSync(join(BERT_DIR, 'config.json'), 'utf8')) as Record<string, unknown>;
  config.architectures = ['BertModel'];
  delete config.id2label;
  delete config.label2id;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  for (const f of ['model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt']) copyFileSync(join(BERT_DIR, f), join(dir, f));
  // sentence-transformers' own token limit, below the tokenizer's 128: data and Triton keep it.
  writeFileSync(join(dir, 'sentence_bert_config.json'), JSON.stringify({ max_seq_length: MAX_SEQ, do_lower_case: false }));
  return dir;
}

function recipe(root: string, model: string, task: string | undefined): string {
  writeFileSync(join(root, 'eval.jsonl'), `${EVAL_TEXTS.join('\n')}\n`);
  const file = join(root, `recipe-${task ?? 'none'}.yaml`);
  writeFileSync(
    file,
    stringify({
      version: 1,
      name: 'bare-bert-embedding',
      ...(task ? { task } : {}),
      model,
      data: { calibration: join(REPO, 'data/embed/calib.jsonl'), evaluation: join(root, 'eval.jsonl') },
      steps: [
        { id: 'load', uses: 'hf.load' },
        { id: 'export', uses: 'onnx.export' },
        { id: 'qdq', uses: 'qdq.insert', with: { ops: ['MatMul', 'Gemm'], activations: 'int8', weights: 'per-channel' } },
        { id: 'calibrate', uses: 'calibrate', with: { method: 'percentile', percentile: 99.99 } },
        { id: 'save', uses: 'onnx.save' },
        { id: 'triton', uses: 'triton', with: { maxBatchSize: 16 } },
        { id: 'bench', uses: 'bench', with: { shapes: [{ batch: 1, sequence: 16 }], warmup: 1, iterations: 4, blocks: 1 } },
      ],
      gates: { 'bench.embedding.meanCosine': '>= 0.9' },
    }),
  );
  return file;
}

describe('a bare BERT checkpoint as a sentence-embedding model', () => {
  let root: string;
  let model: string;
  beforeAll(() => {
    root = tempDir('qrun-embed-bare-');
    model = bareBert(root);
  });

  it('without `task:` the export stops with TASK_UNKNOWN and says how to name the task', async () => {
    const r = await qrun([recipe(root, model, undefined), '--cache', join(root, 'cache-none')]);
    expect(r.exitCode).not.toBe(0);
    const out = r.stdout + r.stderr;
    expect(out).toContain('TASK_UNKNOWN');
    expect(out).toContain('(BertModel) name no head');
    expect(out).toContain('task: embedding');
  });

  it('with `task: embedding` it is exported with mean pooling, quantized, served and benched', async () => {
    const cache = join(root, 'cache');
    const r = await qrun([recipe(root, model, 'embedding'), '--cache', cache]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const { report } = latestReport(cache);
    expect(step(report, 'load').metrics).toMatchObject({ task: 'embedding', taskFrom: 'recipe (task:)' });
    expect(step(report, 'export').metrics).toMatchObject({ task: 'embedding', head: 'mean pooling (default (mean, no normalisation))', outputs: ['sentence_embedding'] });
    const bench = step(report, 'bench').metrics as Record<string, unknown> & { embedding: Record<string, number> };
    expect(bench.task).toBe('embedding');
    expect(bench.embedding).toMatchObject({ texts: 80, dimension: 128, output: 'sentence_embedding' });
    expect(bench.embedding.meanCosine).toBeGreaterThan(0.9);
    expect(bench.embedding.recallAt10).toBeGreaterThan(0.5);
    expect(bench.agreement).toBe(bench.embedding.recallAt10);
    // The data set has paraphrase groups: retrieval accuracy against them, FP32 and INT8.
    expect(typeof bench.embedding.fp32RetrievalAccuracy).toBe('number');
    expect(bench.perClass).toBeUndefined();
    // The summary names the task's own measures, not classification's.
    expect(r.stdout).toMatch(/paraphrase retrieval +\d+\.\d\d% +\d+\.\d\d%/);
    expect(r.stdout).toMatch(/recall@10 vs FP32 +\d+\.\d\d%/);
    expect(r.stdout).toMatch(/Spearman of similarities +[01]\.\d{5}/);
    expect(r.stdout).not.toContain('label accuracy');
    const html = readFileSync(join(latestReport(cache).dir, 'report.html'), 'utf8');
    expect(html).toContain('<div class="label">Recall@10 vs FP32</div>');
    expect(html).toContain('<div class="label">Paraphrase retrieval (INT8)</div>');

    // The Triton repository returns embeddings: text in, onnxruntime's sentence_embedding out.
    const repository = join(cache, 'cache', step(report, 'triton').outputs.repository!.path);
    expect(existsSync(join(repository, 'model', 'labels.txt'))).toBe(false);
    const ensembleConfig = readFileSync(join(repository, 'model_ensemble', 'config.pbtxt'), 'utf8');
    expect(ensembleConfig).toMatch(/name: "sentence_embedding"[\s\S]*dims: \[ 128 \]/);
    expect(readFileSync(join(repository, 'model', 'config.pbtxt'), 'utf8')).toContain('dynamic_batching');
    expect(readFileSync(join(repository, 'model_tokenizer', 'config.pbtxt'), 'utf8')).toMatch(/key: "max_length"\s*value \{\s*string_value: "24"/);
    const evaluation = JSON.parse(readFileSync(join(cache, 'cache', step(report, 'load').outputs.datasets!.path, 'evaluation.json'), 'utf8')) as { maxLength: number; samples: { ids: number[] }[] };
    expect(evaluation.maxLength).toBe(MAX_SEQ);
    expect(Math.max(...evaluation.samples.map((s) => s.ids.length))).toBe(MAX_SEQ);
    const server = await startLoopbackTriton(repository);
    try {
      // The last is longer than 24 tokens: cut there, [SEP] kept last, as sentence-transformers does.
      const texts = [...EVAL_TEXTS.slice(0, 4).map((l) => (JSON.parse(l) as { text: string }).text), 'Das ist ein ziemlich langer Satz, der weit mehr als vierundzwanzig Wortstücke hat, damit er abgeschnitten wird.'];
      const res = await fetch(`${server.url}/v2/models/model_ensemble/infer`, {
        method: 'POST',
        body: JSON.stringify({ inputs: [{ name: 'TEXT', datatype: 'BYTES', shape: [texts.length, 1], data: texts }] }),
      });
      const body = (await res.json()) as { outputs: { name: string; shape: number[]; data: number[] }[] };
      expect(res.status).toBe(200);
      const out = body.outputs.find((o) => o.name === 'sentence_embedding')!;
      expect(out.shape).toEqual([5, 128]);
      // The reference: the repository's model.onnx in onnxruntime, one text at a time.
      const tokenizer = await loadTokenizer(join(model, 'tokenizer.json'), join(model, 'tokenizer_config.json'));
      const session = await ort.InferenceSession.create(join(repository, 'model', '1', 'model.onnx'));
      for (const [i, text] of texts.entries()) {
        const ids = truncateSingle(tokenizer.encode(text), MAX_SEQ);
        const t = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, ids.length]);
        const direct = (await session.run({ input_ids: t(ids), attention_mask: t(ids.map(() => 1)), token_type_ids: t(ids.map(() => 0)) })).sentence_embedding!.data as Float32Array;
        // Within 5e-4, not 5e-5: the server pads its batch, and since calibrate 1.4's shift
        // (probabilities stored as P − ½) a masked key cancels in P·V only to float rounding, so an
        // int8 value now and then rounds a step the other way (6.7e-5 seen).
        direct.forEach((v, d) => expect(out.data[i * 128 + d]).toBeCloseTo(v, 3));
      }
      await session.release();
    } finally {
      await server.close();
    }
  });
});
