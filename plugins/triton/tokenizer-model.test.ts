// The Python-backend tokenizer (python/model.py) run as Triton's Python backend would run it, by
// testing/run_tokenizer_model.py, with stand-ins for triton_python_backend_utils and, here, for the
// `tokenizers` library (not installed on the machines CI runs on). What this proves is the glue:
// config parameters, input decoding, output names, types and shapes, per-request errors. The real
// tokenization is compared with qrun's TypeScript tokenizer where `tokenizers` is installed.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Artifact } from '../../src/engine/plugin.ts';
import { BERT_DIR } from '../../tests/helpers/bert-langid.ts';
import { stepContext } from '../../tests/helpers/step-context.ts';
import { writeTinyClassifier } from '../trtexec/testing/tiny-onnx.ts';
import plugin from './index.ts';
import { parseModelConfigText } from './model-config-schema.ts';
import { withDefaults } from './options.ts';

const TESTING = fileURLToPath(new URL('./testing/', import.meta.url));
const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

interface Output {
  dtype: string;
  shape: number[];
  data: number[];
}
interface Run {
  responses: ({ error: string } | { outputs: Record<string, Output> })[];
  tokenizerCalls: unknown[][];
}

describe.skipIf(!hasNumpy)('tokenizer model.py under a stand-in Python backend (python3 with numpy)', () => {
  let root: string;
  let folder: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'qrun-pymodel-'));
    const hf = join(root, 'hf');
    await mkdir(hf);
    await writeFile(join(hf, 'config.json'), JSON.stringify({ max_position_embeddings: 64 }));
    await copyFile(join(BERT_DIR, 'tokenizer.json'), join(hf, 'tokenizer.json'));
    const model = await writeTinyClassifier(root);
    const ctx = stepContext(root, 'triton');
    const artifact = (kind: Artifact['kind'], path: string): Artifact => ({ kind, path, sha256: 't', size: 0 });
    await plugin.run(withDefaults({ name: 'clf' }), { model: artifact('qdq-model', model), hf: artifact('hf-model', hf) }, {}, ctx);
    folder = join(ctx.outDir, 'repository', 'clf_tokenizer');
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function runModel(requests: unknown[]): Promise<Run> {
    // Triton hands model.py its config as JSON; parsing config.pbtxt back gives the same fields.
    const configJson = join(root, 'config.json');
    const requestsJson = join(root, 'requests.json');
    await writeFile(configJson, JSON.stringify(parseModelConfigText(await readFile(join(folder, 'config.pbtxt'), 'utf8'))));
    await writeFile(requestsJson, JSON.stringify(requests));
    const stdout = execFileSync('python3', [join(TESTING, 'run_tokenizer_model.py'), folder, configJson, requestsJson], {
      env: { ...process.env, PYTHONPATH: [join(TESTING, 'fake_pb_utils'), join(TESTING, 'fake_tokenizers')].join(delimiter) },
      encoding: 'utf8',
    });
    return JSON.parse(stdout) as Run;
  }

  it('sets truncation to the config max_length and padding to the pad id, from the tokenizer.json beside it', async () => {
    const run = await runModel([{ TEXT: { shape: [1, 1], data: ['hi'] } }]);
    expect(run.tokenizerCalls).toEqual([
      ['from_file', 'tokenizer.json'],
      ['enable_truncation', 64],
      ['enable_padding', 0, '[PAD]'],
    ]);
  });

  it('answers each request with the model inputs, int64, one row per text, padded to the longest', async () => {
    const run = await runModel([
      { TEXT: { shape: [2, 1], data: ['hello world', 'ça va très bien merci'] } },
      { TEXT: { shape: [1, 1], data: [Array.from({ length: 100 }, () => 'word').join(' ')] } },
    ]);
    const [first, second] = run.responses as { outputs: Record<string, Output> }[];
    expect(Object.keys(first!.outputs)).toEqual(['input_ids', 'attention_mask']); // the tiny model has no token_type_ids
    // The stand-in tokenizer: each word's length, between 101 and 102 (UTF-8 decoded: "très" is 4).
    expect(first!.outputs.input_ids).toEqual({ dtype: 'int64', shape: [2, 7], data: [101, 5, 5, 102, 0, 0, 0, 101, 2, 2, 4, 4, 5, 102] });
    expect(first!.outputs.attention_mask!.data).toEqual([1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]);
    // Requests are not padded to each other; a long text is cut to max_length.
    expect(second!.outputs.input_ids!.shape).toEqual([1, 64]);
  });

  it('takes TEXT as a flat [n] tensor too, and fails only the request that lacks TEXT', async () => {
    const run = await runModel([{ TEXT: { shape: [2], data: ['a b', 'c'] } }, { text: { shape: [1, 1], data: ['x'] } }]);
    expect((run.responses[0] as { outputs: Record<string, Output> }).outputs.input_ids!.shape).toEqual([2, 4]);
    expect(run.responses[1]).toEqual({ error: 'the request has no TEXT input' });
  });
});
