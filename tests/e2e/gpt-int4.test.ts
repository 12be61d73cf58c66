// recipes/gpt-int4.yaml end to end with the real CLI, lean: the shipped models/gpt-debian exported
// with its KV cache, its weights quantized by GPTQ to INT8 and to INT4 (the recipe's matrix), each
// judged by bench against FP32 — perplexity on the first evaluation texts, which must be G1's
// PyTorch perplexity of those texts (models/gpt-debian/reference.json), agreement of greedy
// continuations, time to first token and tokens/s printed for FP32, INT8 and INT4 — and served: the
// INT4 variant's Triton repository, run by the loopback protocol server, generates for prompts sent
// as text what qrun's decode loop generates on the repository's own decoder model, and so does
// python/text_generation.py run under the stand-in Python backend against the served decoder. Fewer texts,
// prompts, tokens and timing runs than the shipped recipe (CI has 2 cores); no timing thresholds.
import { execFile, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import ort from 'onnxruntime-node';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseModelConfigText } from '../../plugins/triton/model-config-schema.ts';
import { loadTokenizer } from '../../src/data/tokenizer.ts';
import type { Report } from '../../src/report/build-report.ts';
import { encodeWhole } from '../../src/tasks/text-generation/data.ts';
import { decoderIo, generate } from '../../src/tasks/text-generation/generate.ts';
import { qrun, REPO, tempDir } from '../helpers/cli.ts';
import { step } from '../helpers/report.ts';
import { startLoopbackTriton, type LoopbackTriton } from '../helpers/triton-server.ts';

const MODEL = join(REPO, 'models/gpt-debian');
const hasPython = spawnSync('python3', ['-c', 'import numpy, regex'], { stdio: 'ignore' }).status === 0;
const TEXTS = 16;

/** The shipped recipe with absolute paths; GPTQ on 32 texts, bench on 16, 4 prompts of 8 new tokens and a short timing pass. */
function recipe(dir: string): string {
  const r = parse(readFileSync(join(REPO, 'recipes/gpt-int4.yaml'), 'utf8')) as Record<string, unknown> & { steps: { id: string; with?: Record<string, unknown> }[]; data: Record<string, string> };
  r.model = MODEL;
  r.data = Object.fromEntries(Object.entries(r.data).map(([k, v]) => [k, join(REPO, 'recipes', v)]));
  const quantize = r.steps.find((s) => s.id === 'quantize')!;
  quantize.with = { ...quantize.with, samples: 32 };
  const bench = r.steps.find((s) => s.id === 'bench')!;
  bench.with = { ...bench.with, samples: TEXTS, warmup: 1, iterations: 4, blocks: 2, generation: { promptTokens: 16, newTokens: 8, prompts: 4, batchSizes: [1, 4], timedTokens: 8 } };
  const file = join(dir, 'recipe.yaml');
  writeFileSync(file, stringify(r));
  return file;
}

/** Each variant's report by its matrix label (bits=8, bits=4). */
function variantReports(cacheRoot: string): Record<string, Report> {
  const out: Record<string, Report> = {};
  for (const run of readdirSync(join(cacheRoot, 'runs'))) {
    if (run.endsWith('-matrix')) continue;
    const report = JSON.parse(readFileSync(join(cacheRoot, 'runs', run, 'report.json'), 'utf8')) as Report & { recipe: { variant?: { label: string } } };
    out[report.recipe.variant!.label] = report;
  }
  return out;
}

interface GenerationMetrics {
  fp32Perplexity: number;
  int8Perplexity: number;
  perplexityIncrease: number;
  perplexityTexts: number;
  tokenAgreement: number;
  exactMatch: number;
  prompts: number;
  tokensPerSecond: { batch: number; fp32: number; int8: number; speedup: number }[];
  timeToFirstToken: { fp32: number; int8: number };
}

describe('recipes/gpt-int4.yaml', () => {
  let dir: string;
  let result: Awaited<ReturnType<typeof qrun>>;
  let reports: Record<string, Report>;
  let server: LoopbackTriton | undefined;
  let served: { repository: string; params: string; prompts: string[] } | undefined;

  beforeAll(async () => {
    dir = tempDir('qrun-gpt-');
    result = await qrun([recipe(dir), '--cache', join(dir, 'cache')]);
    reports = variantReports(join(dir, 'cache'));
    // Two variants, each with GPTQ and a bench: about a minute of CPU, more beside another test file.
  }, 360_000);
  afterAll(async () => {
    await server?.close();
  });

  it('passes its gates for INT8 and INT4: perplexity within 5% of FP32, ≥ ~3× smaller', () => {
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    for (const gate of [/perplexityIncrease <= 0\.05: -?\d\.\d{4} — pass/g, /sizeRatio <= 0\.34: \d\.\d{4} — pass/g]) {
      expect(result.stdout.match(gate), String(gate)).toHaveLength(2);
    }
    expect(Object.keys(reports).sort()).toEqual(['bits=4', 'bits=8']);
  });

  it('prints tokens/s and time to first token for FP32, INT8 and INT4', () => {
    // One table per variant, its quantized column named from the graph.
    const tables = result.stdout.split('▶ variant').slice(1);
    expect(tables).toHaveLength(2);
    for (const [k, label] of [[0, 'INT8'], [1, 'INT4']] as const) {
      expect(tables[k]).toMatch(new RegExp(`FP32\\s+${label}\\n`));
      for (const b of [1, 4]) expect(tables[k]).toMatch(new RegExp(`tokens/s ${b}×8\\s+\\d+\\.\\d tok/s\\s+\\d+\\.\\d tok/s\\s+\\d+\\.\\d\\d× \\[\\d+\\.\\d\\d–\\d+\\.\\d\\d\\]`));
      expect(tables[k]).toMatch(/time to first token 1×16 p50\/p90/);
      expect(tables[k]).toMatch(/perplexity\s+\d+\.\d{3}\s+\d+\.\d{3}\s+[+−]\d\.\d\d%/);
    }
    for (const label of ['bits=8', 'bits=4']) {
      const g = step(reports[label]!, 'bench').metrics.textGeneration as GenerationMetrics;
      expect(g.tokensPerSecond.map((r) => r.batch)).toEqual([1, 4]);
      for (const r of g.tokensPerSecond) expect(r.fp32 > 0 && r.int8 > 0 && r.speedup > 0).toBe(true);
      expect(g.timeToFirstToken.fp32).toBeGreaterThan(0);
    }
  });

  it('measures FP32 perplexity as PyTorch does on the same texts, and INT4 close to it', () => {
    const ref = (JSON.parse(readFileSync(join(MODEL, 'reference.json'), 'utf8')) as { eval_perplexity: { per_text_nll_sum: number[]; per_text_count: number[] } }).eval_perplexity;
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const expected = Math.exp(sum(ref.per_text_nll_sum.slice(0, TEXTS)) / sum(ref.per_text_count.slice(0, TEXTS)));
    for (const label of ['bits=8', 'bits=4']) {
      const bench = step(reports[label]!, 'bench').metrics as Record<string, unknown> & { textGeneration: GenerationMetrics };
      const g = bench.textGeneration;
      expect(g.perplexityTexts).toBe(TEXTS);
      expect(Math.abs(g.fp32Perplexity - expected) / expected, label).toBeLessThan(1e-4);
      expect(g.perplexityIncrease).toBeCloseTo(g.int8Perplexity / g.fp32Perplexity - 1, 12);
      expect(g.prompts).toBe(4);
      expect(bench).toMatchObject({ task: 'text-generation', agreement: g.tokenAgreement, candidate: label === 'bits=4' ? 'INT4' : 'INT8' });
    }
    const quantize = step(reports['bits=4']!, 'quantize').metrics as { sizeRatio: number; bits: number };
    expect(quantize.bits).toBe(4);
    expect(step(reports['bits=4']!, 'bench').metrics.sizeRatio as number).toBeLessThan(1 / 3);
  });

  it('serves generation through the INT4 Triton repository: the loop\'s text for each prompt', async () => {
    const triton = step(reports['bits=4']!, 'triton');
    expect(triton.metrics).toMatchObject({ models: ['model', 'model_generate'], textModel: 'model_generate' });
    const repository = join(dir, 'cache', 'cache', triton.outputs.repository!.path);
    server = await startLoopbackTriton(repository, { maxBodyBytes: 16 << 20 });
    const tokenizer = await loadTokenizer(join(MODEL, 'tokenizer.json'), join(MODEL, 'tokenizer_config.json'));
    const prompts = ['The package', 'Fix a crash when', '-- Debian'];
    const r = await fetch(`${server.url}/v2/models/model_generate/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'TEXT', datatype: 'BYTES', shape: [3, 1], data: prompts }] }) });
    const body = (await r.json()) as { outputs?: { name: string; shape: number[]; data: string[] }[]; error?: string };
    expect(r.status, body.error).toBe(200);
    expect(body.outputs![0]).toMatchObject({ name: 'GENERATED_TEXT', shape: [3, 1] });
    // generation_config.json's eos and max_new_tokens, which hf.load keeps for it.
    const params = readFileSync(join(repository, 'model_generate', 'config.pbtxt'), 'utf8');
    expect(params).toMatch(/key: "max_new_tokens"\s+value \{\s+string_value: "32"/);
    expect(params).toMatch(/key: "eos_id"\s+value \{\s+string_value: "0"/);
    // qrun's loop on the repository's decoder, with the generation model's parameters (eos 0, 32 new tokens).
    const session = await ort.InferenceSession.create(join(repository, 'model', '1', 'model.onnx'));
    const g = await generate(session, decoderIo(session, 'served'), prompts.map((p) => encodeWhole(tokenizer, p)), { newTokens: 32, padId: tokenizer.padId, eosId: 0 });
    await session.release();
    const expected = g.tokens.map((ids) => tokenizer.library.tokenizer.decode(ids.at(-1) === 0 ? ids.slice(0, -1) : ids, { skip_special_tokens: true }));
    expect(body.outputs![0]!.data).toEqual(expected);
    expect(expected.some((t) => t.trim().length > 0)).toBe(true);
    served = { repository, params, prompts };
  });

  // skip-reason: python3 without numpy or regex here (the stand-in Python backend and tokenizers need them).
  it.skipIf(!hasPython)('python/text_generation.py on the INT4 repository generates the same texts', async () => {
    // As Triton's Python backend would run it (plugins/triton/testing/: stand-ins for
    // triton_python_backend_utils, whose BLS calls reach the loopback server's INT4 decoder, and for
    // `tokenizers`, checked against qrun's ids in plugins/triton/text-generation.test.ts).
    expect(served, 'the previous test served the repository').toBeDefined();
    const { repository, params, prompts } = served!;
    // 6 new tokens (each BLS call carries the cache as JSON over HTTP here), and qrun's loop for as many.
    const parsed = parseModelConfigText(params) as { parameters: Record<string, { string_value: string }> };
    parsed.parameters.max_new_tokens!.string_value = '6';
    const config = join(dir, 'generate-config.json');
    const requests = join(dir, 'requests.json');
    writeFileSync(config, JSON.stringify(parsed));
    writeFileSync(requests, JSON.stringify([{ TEXT: { shape: [3, 1], data: prompts } }]));
    const tokenizer = await loadTokenizer(join(MODEL, 'tokenizer.json'), join(MODEL, 'tokenizer_config.json'));
    const session = await ort.InferenceSession.create(join(repository, 'model', '1', 'model.onnx'));
    const g = await generate(session, decoderIo(session, 'served'), prompts.map((p) => encodeWhole(tokenizer, p)), { newTokens: 6, padId: tokenizer.padId, eosId: 0 });
    await session.release();
    const expected = g.tokens.map((ids) => tokenizer.library.tokenizer.decode(ids.at(-1) === 0 ? ids.slice(0, -1) : ids, { skip_special_tokens: true }));
    const testing = join(REPO, 'plugins/triton/testing');
    const { stdout } = await promisify(execFile)('python3', [join(testing, 'run_tokenizer_model.py'), join(repository, 'model_generate'), config, requests], {
      env: { ...process.env, PYTHONPATH: [join(testing, 'fake_pb_utils'), join(testing, 'fake_bpe_tokenizers')].join(delimiter), QRUN_TEST_TRITON_URL: server!.url },
      maxBuffer: 64 << 20,
    });
    const run = JSON.parse(stdout) as { responses: { outputs: { GENERATED_TEXT: { data: string[] } } }[] };
    expect(run.responses[0]!.outputs.GENERATED_TEXT.data).toEqual(expected);
  });
});
