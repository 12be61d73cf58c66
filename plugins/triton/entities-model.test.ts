// Token classification's Triton repository: the triton step, given a token-classification model
// (hf/task.json says so, config.json has the tags), writes TEXT → tokenizer → model → entities model
// → ENTITIES; and python/token_classification.py run as Triton's Python backend would run it
// (testing/run_entities_model.py, with stand-ins for triton_python_backend_utils and, as the real
// library is not installed here, for `tokenizers`: one token per BERT word, with word ids and
// offsets). What this proves is the glue: config parameters, inputs, first-token aggregation,
// entity grouping with offsets, the output's shape, per-request errors. The decoder with the real
// tokenizers library ran on the GPU machine (tests/fixtures/bert-ner/served.json, compared in
// tests/e2e/ner-int8.test.ts).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Artifact } from '../../src/engine/plugin.ts';
import { exportEncoder, parseEncoderConfig, RandomWeights } from '../../src/export/index.ts';
import { encodeModel } from '../../src/onnx/model-io.ts';
import { TASK_FILE } from '../../src/tasks/task.ts';
import { BERT_DIR } from '../../tests/helpers/bert-langid.ts';
import { stepContext } from '../../tests/helpers/step-context.ts';
import plugin from './index.ts';
import { parseModelConfigText } from './model-config-schema.ts';
import { withDefaults } from './options.ts';

const TESTING = fileURLToPath(new URL('./testing/', import.meta.url));
const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
const LABELS = ['O', 'B-PATH', 'I-PATH', 'B-FMT', 'I-FMT'];

interface Run {
  responses: ({ error: string } | { outputs: Record<string, { shape: number[]; data: string[] }> })[];
  tokenizerCalls: unknown[][];
}

describe('the triton step for a token-classification model', () => {
  let root: string;
  let repository: string;
  let metrics: Record<string, unknown>;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'qrun-ner-triton-'));
    const hf = join(root, 'hf');
    await mkdir(hf);
    const raw = {
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
    await writeFile(join(hf, 'config.json'), JSON.stringify(raw));
    await writeFile(join(hf, TASK_FILE), JSON.stringify({ task: 'token-classification', from: 'architectures', detail: 'BertForTokenClassification' }));
    await copyFile(join(BERT_DIR, 'tokenizer.json'), join(hf, 'tokenizer.json'));
    const { model } = await exportEncoder(parseEncoderConfig(raw, 'config.json'), new RandomWeights(1, 0.02));
    const modelFile = join(root, 'model.onnx');
    await writeFile(modelFile, encodeModel(model));
    const ctx = stepContext(root, 'triton');
    const artifact = (kind: Artifact['kind'], path: string): Artifact => ({ kind, path, sha256: 't', size: 0 });
    const result = await plugin.run(withDefaults({ name: 'ner', maxBatchSize: 8 }), { model: artifact('onnx-model', modelFile), hf: artifact('hf-model', hf) }, {}, ctx);
    metrics = (result as { metrics: Record<string, unknown> }).metrics;
    repository = join(ctx.outDir, 'repository');
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes tokenizer → model → entities → ENTITIES, with the tags and max_length on the entities model and no labels file', async () => {
    expect(metrics).toMatchObject({ models: ['ner', 'ner_tokenizer', 'ner_entities', 'ner_ensemble'], textModel: 'ner_ensemble' });
    const entities = parseModelConfigText(await readFile(join(repository, 'ner_entities', 'config.pbtxt'), 'utf8')) as Record<string, unknown>;
    expect(entities).toMatchObject({
      backend: 'python',
      max_batch_size: 8,
      input: [
        { name: 'TEXT', data_type: 'TYPE_STRING', dims: [1] },
        { name: 'logits', data_type: 'TYPE_FP32', dims: [-1, 5] },
      ],
      output: [{ name: 'ENTITIES', data_type: 'TYPE_STRING', dims: [1] }],
      parameters: { labels: { string_value: JSON.stringify(LABELS) }, max_length: { string_value: '64' } },
    });
    const ensemble = parseModelConfigText(await readFile(join(repository, 'ner_ensemble', 'config.pbtxt'), 'utf8')) as { ensemble_scheduling: { step: { model_name: string }[] }; output: { name: string }[] };
    expect(ensemble.ensemble_scheduling.step.map((s) => s.model_name)).toEqual(['ner_tokenizer', 'ner', 'ner_entities']);
    expect(ensemble.output.map((o) => o.name)).toEqual(['ENTITIES']);
    expect(spawnSync('ls', [join(repository, 'ner_entities', '1')]).stdout.toString().split('\n').filter(Boolean)).toEqual(['model.py', 'tokenizer.json']);
    expect(spawnSync('ls', [join(repository, 'ner')]).stdout.toString()).not.toContain('labels.txt');
  });

  // skip-reason: python3 has no numpy here, and the stand-in backend needs it.
  describe.skipIf(!hasNumpy)('python/token_classification.py under a stand-in Python backend', () => {
    async function run(requests: unknown[]): Promise<Run> {
      const folder = join(repository, 'ner_entities');
      const configJson = join(root, 'entities-config.json');
      const requestsJson = join(root, 'entities-requests.json');
      await writeFile(configJson, JSON.stringify(parseModelConfigText(await readFile(join(folder, 'config.pbtxt'), 'utf8'))));
      await writeFile(requestsJson, JSON.stringify(requests));
      const stdout = execFileSync('python3', [join(TESTING, 'run_entities_model.py'), folder, configJson, requestsJson], {
        env: { ...process.env, PYTHONPATH: [join(TESTING, 'fake_pb_utils'), join(TESTING, 'fake_word_tokenizers')].join(delimiter) },
        encoding: 'utf8',
      });
      return JSON.parse(stdout) as Run;
    }

    /** Logits [texts, tokens, 5] that put tag `tags[t][k]` on token k of text t (0 elsewhere). */
    function logits(tags: string[][], width: number): { shape: number[]; data: number[] } {
      const data: number[] = [];
      for (const row of tags) {
        for (let k = 0; k < width; k++) {
          const tag = row[k] ?? 'O';
          data.push(...LABELS.map((l) => (l === tag ? 4 : 0)));
        }
      }
      return { shape: [tags.length, width, LABELS.length], data };
    }

    it('groups first-token tags into entities with their words and character offsets, one JSON per text', async () => {
      // Tokens (one per word): [CLS] open / etc / x : % s [SEP]   and   [CLS] ok [SEP]
      const texts = ['open /etc/x: %s', 'ok'];
      const tags = [
        ['O', 'O', 'B-PATH', 'I-PATH', 'I-PATH', 'I-PATH', 'O', 'B-FMT', 'I-FMT', 'O'],
        ['O', 'I-FMT', 'O'],
      ];
      const result = await run([{ TEXT: { shape: [2, 1], data: texts }, logits: logits(tags, 10) }]);
      expect(result.tokenizerCalls).toEqual([['from_file', 'tokenizer.json'], ['enable_truncation', 64], ['no_padding']]);
      const out = (result.responses[0] as { outputs: Record<string, { shape: number[]; data: string[] }> }).outputs.ENTITIES!;
      expect(out.shape).toEqual([2, 1]);
      const [first, second] = out.data.map((s) => JSON.parse(s) as { entity_group: string; word: string; start: number; end: number; words: string[]; score: number }[]);
      expect(first!.map(({ score: _s, ...e }) => e)).toEqual([
        { entity_group: 'PATH', word: '/etc/x', start: 5, end: 11, words: ['/', 'etc', '/', 'x'] },
        { entity_group: 'FMT', word: '%s', start: 13, end: 15, words: ['%', 's'] },
      ]);
      // softmax of [4, 0, 0, 0, 0] at the tag: e^4 / (e^4 + 4)
      expect(first![0]!.score).toBeCloseTo(Math.exp(4) / (Math.exp(4) + 4), 5);
      // An I- tag after O starts an entity (seqeval's default chunking).
      expect(second!.map((e) => [e.entity_group, e.word])).toEqual([['FMT', 'ok']]);
    });

    it('answers a bad request with its error and still serves the others', async () => {
      const good = { TEXT: { shape: [1, 1], data: ['x'] }, logits: logits([['O', 'B-PATH', 'O']], 3) };
      const result = await run([{ TEXT: good.TEXT }, { TEXT: good.TEXT, logits: { shape: [1, 3, 2], data: [0, 0, 0, 0, 0, 0] } }, good]);
      expect(result.responses[0]).toEqual({ error: 'the request needs TEXT and logits inputs' });
      expect((result.responses[1] as { error: string }).error).toContain('expected [1, tokens, 5]');
      const ok = (result.responses[2] as { outputs: Record<string, { data: string[] }> }).outputs.ENTITIES!.data;
      expect(JSON.parse(ok[0]!)).toMatchObject([{ entity_group: 'PATH', word: 'x', start: 0, end: 1 }]);
    });
  });
});
