// The Triton model repository of the shipped recipe, served for real: the real qrun CLI runs
// recipes/bert-int8.yaml up to its triton step (bench and gates left out, for time), a loopback
// server speaking Triton's HTTP/JSON protocol serves the repository with onnxruntime-node
// (tests/helpers/triton-server.ts), and examples/triton-client.ts sends it text. Its predictions
// must be onnxruntime's, computed directly on the repository's model.onnx for the same texts.
// No Triton server and no Python backend ran: the tokenizer model is stood in for by qrun's
// TypeScript tokenizer (plugins/triton/tokenizer-model.test.ts covers model.py itself).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import * as ort from 'onnxruntime-node';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/data/tokenizer.ts';
import { BERT_DIR } from '../helpers/bert-langid.ts';
import { qrun, REPO, tempDir } from '../helpers/cli.ts';
import { latestReport, step } from '../helpers/report.ts';
import { startLoopbackTriton, type LoopbackTriton } from '../helpers/triton-server.ts';

interface Prediction {
  text: string;
  label: string;
  index: number;
  probability: number;
  logits: number[];
}

const id2label = (JSON.parse(readFileSync(join(BERT_DIR, 'config.json'), 'utf8')) as { id2label: Record<string, string> }).id2label;

/** 40 evaluation texts (more than max_batch_size 32: two requests), plus a long one and an odd one. */
const TEXTS = [
  ...readFileSync(join(REPO, 'data/langid/eval.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .slice(0, 40)
    .map((l) => (JSON.parse(l) as { text: string }).text),
  // Over 128 tokens: truncated to the model's length, [SEP] kept last.
  Array.from({ length: 60 }, () => 'Der schnelle braune Fuchs springt über den faulen Hund.').join(' '),
  'Ça alors ! Où est passé le cœur ? 🙂',
];

/** The recipe as shipped, with absolute paths, without the bench step and its gate. */
function recipeUpToTriton(dir: string): string {
  const recipe = parse(readFileSync(join(REPO, 'recipes/bert-int8.yaml'), 'utf8')) as Record<string, unknown> & { steps: { id: string }[]; data: Record<string, string> };
  recipe.model = join(REPO, 'models/bert-langid');
  recipe.data = Object.fromEntries(Object.entries(recipe.data).map(([k, v]) => [k, join(REPO, 'recipes', v)]));
  recipe.steps = recipe.steps.filter((s) => s.id !== 'bench');
  delete recipe.gates;
  const file = join(dir, 'recipe.yaml');
  writeFileSync(file, stringify(recipe));
  return file;
}

/** onnxruntime on the repository's model, one text at a time, no padding: the reference. */
async function directPredictions(modelFile: string, texts: string[]): Promise<{ label: string; logits: number[] }[]> {
  const tokenizer = await loadTokenizer(join(BERT_DIR, 'tokenizer.json'), join(BERT_DIR, 'tokenizer_config.json'));
  const session = await ort.InferenceSession.create(modelFile);
  const out = [];
  for (const text of texts) {
    const ids = tokenizer.encode(text);
    const tensor = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), [1, ids.length]);
    const feeds = { input_ids: tensor(ids), attention_mask: tensor(ids.map(() => 1)), token_type_ids: tensor(ids.map(() => 0)) };
    const logits = Array.from((await session.run(feeds)).logits!.data as Float32Array);
    out.push({ label: id2label[String(logits.indexOf(Math.max(...logits)))]!, logits });
  }
  await session.release();
  return out;
}

async function client(args: string[]): Promise<string> {
  const r = await execa(process.execPath, ['--import', 'tsx', 'examples/triton-client.ts', ...args], { cwd: REPO, reject: false, timeout: 60_000 });
  expect(r.stderr, `client failed (${r.exitCode})`).toBe('');
  expect(r.exitCode).toBe(0);
  return String(r.stdout);
}

describe('examples/triton-client.ts against the bert-int8 recipe\'s Triton repository', () => {
  let repository: string;
  let server: LoopbackTriton;
  let expected: { label: string; logits: number[] }[];
  let metrics: Record<string, unknown>;

  beforeAll(async () => {
    const dir = tempDir('qrun-triton-');
    const r = await qrun([recipeUpToTriton(dir), '--cache', join(dir, 'cache')]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const triton = step(latestReport(join(dir, 'cache')).report, 'triton');
    metrics = triton.metrics;
    repository = join(dir, 'cache', 'cache', triton.outputs.repository!.path);
    server = await startLoopbackTriton(repository);
    expected = await directPredictions(join(repository, 'model', '1', 'model.onnx'), TEXTS);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('the recipe\'s triton step wrote the model, the tokenizer and the ensemble, and labels from config.json', () => {
    expect(metrics).toMatchObject({ models: ['model', 'model_tokenizer', 'model_ensemble'], textModel: 'model_ensemble', maxBatchSize: 32 });
    expect(server.models).toEqual({ model: 'ready', model_ensemble: 'ready', model_tokenizer: 'ready' });
    expect(readFileSync(join(repository, 'model', 'labels.txt'), 'utf8')).toBe(`${Object.values(id2label).join('\n')}\n`);
    // The reference itself is sane: the shipped model gets most of these evaluation texts right.
    const truth = readFileSync(join(REPO, 'data/langid/eval.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, 40).map((l) => (JSON.parse(l) as { label: string }).label);
    expect(truth.filter((t, i) => expected[i]!.label === t).length).toBeGreaterThanOrEqual(36);
  });

  it('sends raw text to the ensemble and gets onnxruntime\'s labels and logits back', async () => {
    const out = JSON.parse(await client(['--url', server.url, '--model', 'model_ensemble', '--labels', join(repository, 'model_ensemble', 'labels.txt'), '--json', '--', ...TEXTS])) as Prediction[];
    expect(out.map((p) => p.text)).toEqual(TEXTS);
    expect(out.map((p) => p.label)).toEqual(expected.map((e) => e.label));
    // Batched and padded on the server, one by one here: the attention mask hides the padding, up to
    // int8 rounding. Since calibrate 1.4's shift the probabilities are stored as P − ½ and a masked key
    // (P = 0) adds −½·V to P·V and +½·V to the ReduceSum correction, which cancel only to float
    // rounding: now and then a downstream int8 value rounds one step the other way (up to ~0.015 in a
    // logit here). The labels above stay exact; the logits are compared at that noise's scale.
    expect(out.map((p) => p.logits.length)).toEqual(expected.map(() => 9));
    out.forEach((p, i) => p.logits.forEach((v, j) => expect(v).toBeCloseTo(expected[i]!.logits[j]!, 1)));
  });

  it('sends token ids to the model itself, and prints labels and logits for a person', async () => {
    const json = JSON.parse(await client(['--url', server.url, '--model', 'model', '--tokenizer', BERT_DIR, '--labels', join(BERT_DIR, 'config.json'), '--json', '--', ...TEXTS])) as Prediction[];
    expect(json.map((p) => p.label)).toEqual(expected.map((e) => e.label));
    const text = await client(['--url', server.url, '--model', 'model_ensemble', '--labels', join(repository, 'model_ensemble', 'labels.txt'), '--', TEXTS[0]!, TEXTS[1]!]);
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(new RegExp(`^${expected[0]!.label}\\t[01]\\.\\d{3}\\t`));
    expect(lines[1]).toMatch(/^\tlogits: \[(-?\d+\.\d{4}, ){8}-?\d+\.\d{4}\]$/);
  });

  it('answers the protocol\'s metadata and refuses what Triton refuses', async () => {
    const get = async (path: string) => {
      const r = await fetch(`${server.url}${path}`);
      return { status: r.status, body: r.headers.get('content-length') === '0' ? undefined : await r.json() };
    };
    const infer = async (model: string, body: unknown) => {
      const r = await fetch(`${server.url}/v2/models/${model}/infer`, { method: 'POST', body: JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as { error?: string } };
    };
    expect((await get('/v2/health/ready')).status).toBe(200);
    expect((await get('/v2/models/model_ensemble')).body).toEqual({
      name: 'model_ensemble',
      versions: ['1'],
      platform: 'ensemble',
      inputs: [{ name: 'TEXT', datatype: 'BYTES', shape: [-1, 1] }],
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 9] }],
    });
    const ids = (n: number, datatype = 'INT64') => ['input_ids', 'attention_mask', 'token_type_ids'].map((name) => ({ name, datatype, shape: [n, 4], data: Array<number>(n * 4).fill(1) }));
    expect(await infer('model', { inputs: ids(33) })).toEqual({ status: 400, body: { error: "inference request batch-size must be <= 32 for 'model'" } });
    expect((await infer('model', { inputs: ids(2, 'INT32') })).body.error).toBe("input 'input_ids' for model 'model' has datatype INT32, expected INT64");
    expect((await infer('model_ensemble', { inputs: [{ name: 'TEXT', datatype: 'BYTES', shape: [2], data: ['a', 'b'] }] })).body.error).toMatch(/unexpected shape for input 'TEXT'.*got \[2\], expected \[-1,1\]/);
    expect((await infer('nope', { inputs: [] })).status).toBe(400);
    const ok = await infer('model', { inputs: ids(2), outputs: [{ name: 'logits' }] });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ model_name: 'model', outputs: [{ name: 'logits', datatype: 'FP32', shape: [2, 9] }] });
  });

  it('stops by itself after its request budget', async () => {
    const small = await startLoopbackTriton(repository, { maxRequests: 2 });
    try {
      expect((await fetch(`${small.url}/v2/health/ready`)).status).toBe(200);
      expect((await fetch(`${small.url}/v2/health/live`)).status).toBe(200);
      expect((await fetch(`${small.url}/v2/health/ready`)).status).toBe(503);
      await expect(fetch(`${small.url}/v2/health/ready`)).rejects.toThrow();
    } finally {
      await small.close();
    }
  });
});
