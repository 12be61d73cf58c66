// The Python-backend tokenizer (python/model.py) run as Triton's Python backend would run it, by
// testing/run_tokenizer_model.py, with stand-ins for triton_python_backend_utils and, here, for the
// `tokenizers` library (not installed on the machines CI runs on). What this proves is the glue:
// config parameters, input decoding, output names, types and shapes, per-request errors.
// Where python3 has the real `tokenizers`, the last block checks model.py's ids against qrun's
// TypeScript tokenizer (what the loopback server stands in with) on the whole evaluation set. That
// comparison was run by hand on the GPU machine (tokenizers 0.23.2): 1,016 texts, all identical.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Artifact } from '../../src/engine/plugin.ts';
import { loadTokenizer } from '../../src/data/tokenizer.ts';
import { BERT_DIR } from '../../tests/helpers/bert-langid.ts';
import { REPO } from '../../tests/helpers/cli.ts';
import { stepContext } from '../../tests/helpers/step-context.ts';
import { writeTinyClassifier } from '../trtexec/testing/tiny-onnx.ts';
import plugin from './index.ts';
import { parseModelConfigText } from './model-config-schema.ts';
import { withDefaults } from './options.ts';

const TESTING = fileURLToPath(new URL('./testing/', import.meta.url));
const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
const hasTokenizers = hasNumpy && spawnSync('python3', ['-c', 'import tokenizers'], { stdio: 'ignore' }).status === 0;

/** Builds the repository of the shipped model with the triton step; returns the tokenizer folder. */
async function tokenizerFolder(root: string, hf: string, model: string, name: string): Promise<string> {
  const ctx = stepContext(root, 'triton');
  const artifact = (kind: Artifact['kind'], path: string): Artifact => ({ kind, path, sha256: 't', size: 0 });
  await plugin.run(withDefaults({ name }), { model: artifact('qdq-model', model), hf: artifact('hf-model', hf) }, {}, ctx);
  return join(ctx.outDir, 'repository', `${name}_tokenizer`);
}

/** Runs model.py on the requests; `fakeTokenizers` puts the stand-in `tokenizers` module first. */
async function runModel(root: string, folder: string, requests: unknown[], fakeTokenizers: boolean): Promise<Run> {
  // Triton hands model.py its config as JSON; parsing config.pbtxt back gives the same fields.
  const configJson = join(root, 'config.json');
  const requestsJson = join(root, 'requests.json');
  await writeFile(configJson, JSON.stringify(parseModelConfigText(await readFile(join(folder, 'config.pbtxt'), 'utf8'))));
  await writeFile(requestsJson, JSON.stringify(requests));
  const path = [join(TESTING, 'fake_pb_utils'), ...(fakeTokenizers ? [join(TESTING, 'fake_tokenizers')] : [])];
  const stdout = execFileSync('python3', [join(TESTING, 'run_tokenizer_model.py'), folder, configJson, requestsJson], {
    env: { ...process.env, PYTHONPATH: path.join(delimiter) },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return JSON.parse(stdout) as Run;
}

interface Output {
  dtype: string;
  shape: number[];
  data: number[];
}
interface Run {
  responses: ({ error: string } | { outputs: Record<string, Output> })[];
  tokenizerCalls: unknown[][];
}

// skip-reason: python3 has no numpy here, and the stand-in backend needs it.
describe.skipIf(!hasNumpy)('tokenizer model.py under a stand-in Python backend (python3 with numpy)', () => {
  let root: string;
  let folder: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'qrun-pymodel-'));
    const hf = join(root, 'hf');
    await mkdir(hf);
    await writeFile(join(hf, 'config.json'), JSON.stringify({ max_position_embeddings: 64 }));
    await copyFile(join(BERT_DIR, 'tokenizer.json'), join(hf, 'tokenizer.json'));
    folder = await tokenizerFolder(root, hf, await writeTinyClassifier(root), 'clf');
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const run = (requests: unknown[]) => runModel(root, folder, requests, true);

  it('sets truncation to the config max_length and padding to the pad id, from the tokenizer.json beside it', async () => {
    const result = await run([{ TEXT: { shape: [1, 1], data: ['hi'] } }]);
    expect(result.tokenizerCalls).toEqual([
      ['from_file', 'tokenizer.json'],
      ['enable_truncation', 64],
      ['enable_padding', 0, '[PAD]'],
    ]);
  });

  it('answers each request with the model inputs, int64, one row per text, padded to the longest', async () => {
    const result = await run([
      { TEXT: { shape: [2, 1], data: ['hello world', 'ça va très bien merci'] } },
      { TEXT: { shape: [1, 1], data: [Array.from({ length: 100 }, () => 'word').join(' ')] } },
    ]);
    const [first, second] = result.responses as { outputs: Record<string, Output> }[];
    expect(Object.keys(first!.outputs)).toEqual(['input_ids', 'attention_mask']); // the tiny model has no token_type_ids
    // The stand-in tokenizer: each word's length, between 101 and 102 (UTF-8 decoded: "très" is 4).
    expect(first!.outputs.input_ids).toEqual({ dtype: 'int64', shape: [2, 7], data: [101, 5, 5, 102, 0, 0, 0, 101, 2, 2, 4, 4, 5, 102] });
    expect(first!.outputs.attention_mask!.data).toEqual([1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]);
    // Requests are not padded to each other; a long text is cut to max_length.
    expect(second!.outputs.input_ids!.shape).toEqual([1, 64]);
  });

  it('takes TEXT as a flat [n] tensor too, and fails only the request that lacks TEXT', async () => {
    const result = await run([{ TEXT: { shape: [2], data: ['a b', 'c'] } }, { text: { shape: [1, 1], data: ['x'] } }]);
    expect((result.responses[0] as { outputs: Record<string, Output> }).outputs.input_ids!.shape).toEqual([2, 4]);
    expect(result.responses[1]).toEqual({ error: 'the request has no TEXT input' });
  });
});

// skip-reason: python3 has no `tokenizers` here (not installed on the machines CI runs on).
describe.skipIf(!hasTokenizers)('tokenizer model.py with the real `tokenizers` library', () => {
  it('gives the ids, masks and token types of qrun\'s TypeScript tokenizer on the evaluation set and odd texts', async () => {
    const root = await mkdtemp(join(tmpdir(), 'qrun-pymodel-real-'));
    try {
      const folder = await tokenizerFolder(root, BERT_DIR, join(BERT_DIR, 'onnx/model.onnx'), 'langid');
      const texts = readFileSync(join(REPO, 'data/langid/eval.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { text: string }).text);
      texts.push(Array.from({ length: 60 }, () => 'Der schnelle braune Fuchs springt über den faulen Hund.').join(' '), 'Ça alors ! 🙂', '', '   ', '日本語のテキスト', 'ＦＵＬＬＷＩＤＴＨ ﬁ');
      const requests = [];
      for (let i = 0; i < texts.length; i += 8) requests.push({ TEXT: { shape: [Math.min(8, texts.length - i), 1], data: texts.slice(i, i + 8) } });
      const result = await runModel(root, folder, requests, false);
      const tokenizer = await loadTokenizer(join(BERT_DIR, 'tokenizer.json'), join(BERT_DIR, 'tokenizer_config.json'));
      let i = 0;
      for (const response of result.responses as { outputs: Record<string, Output> }[]) {
        const { input_ids: ids, attention_mask: mask, token_type_ids: types } = response.outputs;
        const [rows, width] = ids!.shape as [number, number];
        for (let r = 0; r < rows; r++, i++) {
          const expected = tokenizer.encode(texts[i]!);
          const row = (t: Output) => t.data.slice(r * width, (r + 1) * width);
          expect(row(ids!), texts[i]).toEqual([...expected, ...Array<number>(width - expected.length).fill(tokenizer.padId)]);
          expect(row(mask!)).toEqual([...expected.map(() => 1), ...Array<number>(width - expected.length).fill(0)]);
          expect(row(types!)).toEqual(Array<number>(width).fill(0));
        }
      }
      expect(i).toBe(texts.length);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
