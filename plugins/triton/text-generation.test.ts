// The text-generation Triton repository: the triton step writes the decoder model and a Python model
// (python/text_generation.py) that runs the decode loop with the KV cache against it through BLS.
// Here model.py runs as Triton's Python backend would (testing/run_tokenizer_model.py), with stand-ins
// for triton_python_backend_utils (whose BLS exec() calls the loopback Triton server of the tests,
// which runs the decoder model in onnxruntime-node) and for `tokenizers` (a plain-Python byte-level
// BPE, first checked against qrun's TypeScript tokenizer). Its generated texts must be those of qrun's
// TypeScript decode loop (src/tasks/text-generation/generate.ts) for the same prompts; and the
// loopback server's own stand-in for the model (what the e2e test's client talks to) answers the same.
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer, type LoadedTokenizer } from '../../src/data/tokenizer.ts';
import { encodeWhole } from '../../src/tasks/text-generation/data.ts';
import { decoderIo, generate } from '../../src/tasks/text-generation/generate.ts';
import { REPO } from '../../tests/helpers/cli.ts';
import { artifact, stepContext } from '../../tests/helpers/step-context.ts';
import { startLoopbackTriton, type LoopbackTriton } from '../../tests/helpers/triton-server.ts';
import plugin from './index.ts';
import { parseModelConfigText } from './model-config-schema.ts';
import { withDefaults } from './options.ts';
import { writeTinyGpt, type TinyGpt } from './testing/tiny-gpt.ts';

const TESTING = fileURLToPath(new URL('./testing/', import.meta.url));
const hasPython = spawnSync('python3', ['-c', 'import numpy, regex'], { stdio: 'ignore' }).status === 0;

const PROMPTS = ['the file is in the', 'Is there a', 'on the other hand, the man said that it is not'];

// Asynchronous: model.py calls the loopback server, which runs in this process's event loop.
async function runPython(script: string, args: string[], env: Record<string, string>): Promise<string> {
  const { stdout } = await promisify(execFile)('python3', [script, ...args], {
    env: { ...process.env, PYTHONPATH: [join(TESTING, 'fake_pb_utils'), join(TESTING, 'fake_bpe_tokenizers')].join(delimiter), ...env },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return stdout;
}

describe('the text-generation repository', () => {
  let root: string;
  let tiny: TinyGpt;
  let repository: string;
  let tokenizer: LoadedTokenizer;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'qrun-triton-gen-'));
    tiny = await writeTinyGpt(root, { maxNewTokens: 12 });
    const ctx = stepContext(root, 'triton');
    await plugin.run(withDefaults({ name: 'gpt' }), { model: artifact('qdq-model', tiny.modelFile), hf: artifact('hf-model', tiny.hfDir) }, {}, ctx);
    repository = join(ctx.outDir, 'repository');
    tokenizer = await loadTokenizer(join(tiny.hfDir, 'tokenizer.json'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const config = (name: string) => parseModelConfigText(readFileSync(join(repository, name, 'config.pbtxt'), 'utf8')) as Record<string, unknown> & { parameters?: Record<string, { string_value: string }> };

  it('writes the decoder (no dynamic batching) and the Python model with the loop\'s parameters from the graph and the hf folder', () => {
    const gen = config('gpt_generate');
    expect(gen.backend).toBe('python');
    expect(Object.fromEntries(Object.entries(gen.parameters!).map(([k, v]) => [k, v.string_value]))).toEqual({
      onnx_model: 'gpt', layers: '2', kv_heads: '4', head_dim: '8', pad_id: String(tiny.eotId), eos_id: String(tiny.eotId), max_new_tokens: '12', max_positions: '64',
    });
    expect((gen.input as { name: string }[]).map((i) => i.name)).toEqual(['TEXT']);
    expect((gen.output as { name: string }[]).map((i) => i.name)).toEqual(['GENERATED_TEXT']);
    expect(config('gpt').dynamic_batching).toBeUndefined();
    expect(readFileSync(join(repository, 'gpt_generate', '1', 'model.py'), 'utf8')).toContain('class GreedyDecoder');
    expect(readFileSync(join(repository, 'gpt_generate', '1', 'tokenizer.json'), 'utf8')).toBe(readFileSync(join(tiny.hfDir, 'tokenizer.json'), 'utf8'));
  });

  // skip-reason: python3 without numpy or regex here (the stand-ins need them).
  describe.skipIf(!hasPython)('python/text_generation.py under the stand-in Python backend', () => {
    let server: LoopbackTriton;
    beforeAll(async () => {
      server = await startLoopbackTriton(repository, { maxBodyBytes: 64 << 20 });
    });
    afterAll(() => server?.close());

    it('the stand-in tokenizers module gives qrun\'s TypeScript ids', async () => {
      const texts = [...PROMPTS, 'ünïcode — “quotes” and\ttabs  two  spaces\n', `a<|endoftext|>b files' isn't`];
      const script = join(root, 'ids.py');
      writeFileSync(script, 'import json, sys, tokenizers\nt = tokenizers.Tokenizer.from_file(sys.argv[1])\nprint(json.dumps([[t.encode(x).ids, t.decode(t.encode(x).ids)] for x in json.loads(sys.argv[2])]))\n');
      const py = JSON.parse(await runPython(script, [join(tiny.hfDir, 'tokenizer.json'), JSON.stringify(texts)], {})) as [number[], string][];
      texts.forEach((t, k) => {
        expect(py[k]![0], t).toEqual(encodeWhole(tokenizer, t));
        // The library's decode skips special tokens by default.
        expect(py[k]![1], t).toBe(tokenizer.library.tokenizer.decode(encodeWhole(tokenizer, t), { skip_special_tokens: true }));
      });
    });

    it('the stand-in tokenizers module gives qrun\'s ids on the shipped gpt-debian tokenizer (the evaluation texts)', async () => {
      // tests/gpt-debian.test.ts checks qrun's ids against the real library's (data/gpt-debian/token-ids.json).
      const model = join(REPO, 'models/gpt-debian');
      const texts = readFileSync(join(REPO, 'data/gpt-debian/eval.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, 40).map((l) => (JSON.parse(l) as { text: string }).text);
      const script = join(root, 'ids-gpt.py');
      writeFileSync(script, 'import json, sys, tokenizers\nt = tokenizers.Tokenizer.from_file(sys.argv[1])\nprint(json.dumps([t.encode(x).ids for x in json.load(open(sys.argv[2]))]))\n');
      writeFileSync(join(root, 'texts.json'), JSON.stringify(texts));
      const py = JSON.parse(await runPython(script, [join(model, 'tokenizer.json'), join(root, 'texts.json')], {})) as number[][];
      const gpt = await loadTokenizer(join(model, 'tokenizer.json'));
      expect(py).toEqual(texts.map((t) => encodeWhole(gpt, t)));
    });

    it('generates what qrun\'s TypeScript loop generates for the same prompts (one left-padded batch)', async () => {
      const folder = join(repository, 'gpt_generate');
      writeFileSync(join(root, 'config.json'), JSON.stringify(config('gpt_generate')));
      const requests = [{ TEXT: { shape: [2, 1], data: PROMPTS.slice(0, 2) } }, { TEXT: { shape: [1, 1], data: PROMPTS.slice(2) } }];
      writeFileSync(join(root, 'requests.json'), JSON.stringify(requests));
      const before = server.requests();
      const run = JSON.parse(await runPython(join(TESTING, 'run_tokenizer_model.py'), [folder, join(root, 'config.json'), join(root, 'requests.json')], { QRUN_TEST_TRITON_URL: server.url })) as {
        responses: { outputs?: Record<string, { shape: number[]; data: string[] }>; error?: string }[];
      };
      // The prefill and one call per later token went to the decoder model through BLS.
      expect(server.requests() - before).toBeGreaterThan(1);
      expect(run.responses.map((r) => r.error)).toEqual([undefined, undefined]);
      expect(run.responses.map((r) => r.outputs!.GENERATED_TEXT!.shape)).toEqual([[2, 1], [1, 1]]);
      const served = run.responses.flatMap((r) => r.outputs!.GENERATED_TEXT!.data);

      const session = await ort.InferenceSession.create(tiny.modelFile);
      const g = await generate(session, decoderIo(session, 'tiny'), PROMPTS.map((p) => encodeWhole(tokenizer, p)), { newTokens: 12, padId: tiny.eotId, eosId: tiny.eotId });
      await session.release();
      const expected = g.tokens.map((ids) => tokenizer.library.tokenizer.decode(ids.at(-1) === tiny.eotId ? ids.slice(0, -1) : ids, { skip_special_tokens: true }));
      expect(served).toEqual(expected);
      // Something was generated: the comparison is not of empty strings.
      expect(expected.every((t) => t.length > 0)).toBe(true);

      // The loopback server's stand-in for this model (what clients of the e2e test get) answers the same.
      const response = await fetch(`${server.url}/v2/models/gpt_generate/infer`, {
        method: 'POST',
        body: JSON.stringify({ inputs: [{ name: 'TEXT', datatype: 'BYTES', shape: [3, 1], data: PROMPTS }] }),
      });
      const body = (await response.json()) as { outputs: { name: string; data: string[] }[] };
      expect(body.outputs[0]!.data).toEqual(expected);
    });

    it('a request without TEXT gets its own error; the others are answered', async () => {
      writeFileSync(join(root, 'config.json'), JSON.stringify(config('gpt_generate')));
      writeFileSync(join(root, 'requests.json'), JSON.stringify([{ OTHER: { shape: [1, 1], data: ['x'] } }, { TEXT: { shape: [1, 1], data: ['the'] } }]));
      const run = JSON.parse(await runPython(join(TESTING, 'run_tokenizer_model.py'), [join(repository, 'gpt_generate'), join(root, 'config.json'), join(root, 'requests.json')], { QRUN_TEST_TRITON_URL: server.url })) as {
        responses: { outputs?: Record<string, { data: string[] }>; error?: string }[];
      };
      expect(run.responses[0]!.error).toContain('no TEXT input');
      expect(run.responses[1]!.outputs!.GENERATED_TEXT!.data).toHaveLength(1);
    });
  });
});
