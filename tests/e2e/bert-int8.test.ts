// End to end: the real CLI runs recipes/bert-int8.yaml on the shipped model, in a temp cache.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CacheStore } from '../../src/cache/store.ts';
import { digestPath } from '../../src/util/hash.ts';
import { Ajv } from 'ajv';
import { qrun, REPO, tempDir, type QrunResult } from '../helpers/cli.ts';
import { latestReport, step } from '../helpers/report.ts';
import type { Report } from '../../src/report/build-report.ts';

const RECIPE = 'recipes/bert-int8.yaml';

describe('qrun recipes/bert-int8.yaml', () => {
  const cache = tempDir();
  let first: QrunResult;
  let report: Report;
  let runDir: string;

  beforeAll(async () => {
    first = await qrun([RECIPE, '--cache', cache]);
    ({ report, dir: runDir } = latestReport(cache));
  });

  it('exits 0 and prints the FP32-vs-INT8 summary and the report path', () => {
    expect(first.stderr).not.toMatch(/internal error/);
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toMatch(/label accuracy/);
    expect(first.stdout).toMatch(/agreement with FP32/);
    expect(first.stdout).toMatch(/latency 8×128 p50\/p90/);
    expect(first.stdout).toMatch(/report: .*report\.md/);
    expect(existsSync(join(runDir, 'report.md'))).toBe(true);
    // A fresh cache: every step built its result (the engine is skipped: no trtexec here).
    expect(report.steps.map((s) => [s.id, s.status])).toEqual(['load', 'patch', 'qdq', 'calibrate', 'save', 'engine', 'triton', 'bench'].map((id) => [id, id === 'engine' ? 'skipped' : 'ran']));
  });

  it('keeps INT8 accurate: ≥ 99% agreement with FP32, label accuracy within 1 point', () => {
    const m = step(report, 'bench').metrics as { agreement: number; fp32Accuracy: number; int8Accuracy: number; meanCosine: number; sizes: { fp32: number; int8: number } };
    expect(m.agreement).toBeGreaterThanOrEqual(0.99);
    expect(m.fp32Accuracy).toBeGreaterThan(0.9);
    expect(Math.abs(m.fp32Accuracy - m.int8Accuracy)).toBeLessThanOrEqual(0.01);
    expect(m.meanCosine).toBeGreaterThan(0.99);
    expect(m.sizes.int8).toBeLessThan(m.sizes.fp32);
    expect(report.gates).toEqual([expect.objectContaining({ metric: 'bench.agreement', pass: true })]);
  });

  it('quantizes every MatMul and Gemm with per-channel int8 weights', () => {
    const qdq = step(report, 'qdq').metrics as { quantizedNodes: number; weightTensors: number; activationTensors: number };
    // 4 layers × (Q, K, V, attention output, FFN in, FFN out, Q·Kᵀ, P·V) + pooler + classifier
    expect(qdq.quantizedNodes).toBe(4 * 8 + 2);
    expect(qdq.weightTensors).toBe(4 * 6 + 2);
    const save = step(report, 'save').metrics as { ops: Record<string, number> };
    expect(save.ops.QuantizeLinear).toBeGreaterThan(30);
    expect(save.ops.DequantizeLinear).toBeGreaterThan(save.ops.QuantizeLinear!);
  });

  it('skips the trtexec step with the reason and the fix, because the recipe marks it optional', () => {
    const engine = step(report, 'engine');
    expect(engine.status).toBe('skipped');
    expect(engine.skipped?.reason).toMatch(/trtexec not found/);
    expect(engine.skipped?.fix).toMatch(/QRUN_TRTEXEC|PATH/);
    expect(first.stdout).toMatch(/skipped engine: trtexec not found/);
  });

  it('writes a Triton model repository whose config matches the graph', () => {
    const triton = step(report, 'triton');
    const repo = join(cache, 'cache', triton.outputs.repository!.path);
    const name = readdirNames(repo)[0]!;
    const config = readFileSync(join(repo, name, 'config.pbtxt'), 'utf8');
    expect(config).toMatch(/max_batch_size: 32/);
    for (const input of ['input_ids', 'attention_mask', 'token_type_ids']) expect(config).toContain(`"${input}"`);
    expect(config).toMatch(/TYPE_INT64/);
    expect(config).toMatch(/"logits"[\s\S]*TYPE_FP32/);
    const modelBytes = readFileSync(join(repo, name, '1', 'model.onnx'));
    const saved = step(report, 'save').outputs.model!;
    expect(modelBytes.length).toBe(saved.size);
  });

  it('records every artifact with a sha256 that matches the bytes in the cache', async () => {
    const checked: string[] = [];
    for (const s of report.steps) {
      for (const [name, o] of Object.entries(s.outputs)) {
        expect((await digestPath(join(cache, 'cache', o.path))).sha256, `${s.id}.${name}`).toBe(o.sha256);
        checked.push(s.id);
      }
    }
    // Every step that ran recorded outputs: the loop above did not pass by having nothing to check.
    expect([...new Set(checked)]).toEqual(report.steps.filter((s) => s.status === 'ran').map((s) => s.id));
    expect(report.recipe.hash).toMatch(/^[0-9a-f]{64}$/);
    const ajv = new Ajv({ allErrors: true, strict: false });
    const validate = ajv.compile(JSON.parse(readFileSync(join(REPO, 'schemas/report.schema.json'), 'utf8')));
    expect(validate(report) ? [] : validate.errors).toEqual([]);
    expect(report.tools['onnxruntime-node']).toBe('1.30.0');
  });

  it('a second run builds nothing: every cacheable step is a hit in report.json and the journal, and every cache entry is the first run\'s', async () => {
    const store = new CacheStore(join(cache, 'cache'));
    const before = await entries(store);
    expect(Object.keys(before)).toHaveLength(7);
    const second = await qrun([RECIPE, '--cache', cache]);
    expect(second.exitCode, second.stdout + second.stderr).toBe(0);
    const { report: again, dir } = latestReport(cache);
    expect(dir).not.toBe(runDir);
    // The engine step stays skipped (no trtexec); every other step is a hit, under the first run's key.
    const expected = report.steps.map((s) => [s.id, s.id === 'engine' ? 'skipped' : 'hit', s.key]);
    expect(again.steps.map((s) => [s.id, s.status, s.key])).toEqual(expected);
    expect(again.cache).toMatchObject({ hits: 7, ran: 0, skipped: 1, failed: 0 });
    expect(journalSteps(dir)).toEqual(expected.map(([id, status]) => [id, status]));
    expect(second.stdout).toMatch(/all 7 cacheable steps were cache hits/);
    // Nothing was built again: the same entries, each with the manifest the first run wrote.
    expect(await entries(store)).toEqual(before);
    // Same numbers as the run that built them.
    expect(step(again, 'bench').metrics).toEqual(step(report, 'bench').metrics);
  });

  it('--baseline: no regression against itself; a better baseline makes exit code 3', async () => {
    const same = await qrun([RECIPE, '--cache', cache, '--baseline', join(runDir, 'report.json')]);
    expect(same.exitCode).toBe(0);
    expect(same.stdout).toMatch(/baseline .*: no regression \(\d+ metrics compared\)/);
    const better = structuredClone(report);
    (step(better, 'bench').metrics as { agreement: number }).agreement = 1.5;
    const file = join(tempDir(), 'baseline.json');
    writeFileSync(file, JSON.stringify(better));
    const worse = await qrun([RECIPE, '--cache', cache, '--baseline', file, '--ci']);
    expect(worse.exitCode).toBe(3);
    expect(worse.stdout).toMatch(/agreement .* REGRESSION/);
    expect(worse.stdout).toMatch(/junit: .*junit\.xml/);
  });

  it('gives byte-identical artifacts in a fresh cache', async () => {
    const other = tempDir();
    const r = await qrun([RECIPE, '--cache', other]);
    expect(r.exitCode).toBe(0);
    const { report: b } = latestReport(other);
    for (const id of ['load', 'patch', 'qdq', 'calibrate', 'save', 'triton']) {
      expect({ id, outputs: digests(step(b, id).outputs) }).toEqual({ id, outputs: digests(step(report, id).outputs) });
      expect(step(b, id).key).toBe(step(report, id).key);
    }
    // The reports differ only in timings, timestamps, the run id and where the cache is.
    expect(withoutTimings(b)).toEqual(withoutTimings(report));
  });
});

/** A report with every timing-dependent field blanked (bench latencies and bench.json are timings). */
function withoutTimings(r: Report): unknown {
  const copy = structuredClone(r);
  const bench = copy.steps.find((x) => x.id === 'bench')!;
  bench.outputs = {};
  delete (bench.metrics as Record<string, unknown>).latency;
  delete (bench.metrics as Record<string, unknown>).speedup;
  delete (bench.metrics as Record<string, unknown>).speedupInterval;
  // Memory is measured like time is.
  delete (copy.steps.find((x) => x.id === 'calibrate')!.metrics as Record<string, unknown>).peakRssDeltaMiB;
  copy.run = { ...copy.run, id: '', startedAt: '', finishedAt: '', durationMs: 0, peakRssMiB: 0 };
  // The deliverables folder names the run that filled it.
  if (copy.deliverables?.fromRun) copy.deliverables.fromRun.id = '';
  copy.cache.root = '';
  for (const x of copy.steps) x.durationMs = 0;
  return copy;
}

function digests(outputs: Record<string, { sha256: string }>) {
  return Object.fromEntries(Object.entries(outputs).map(([k, o]) => [k, o.sha256]));
}

/** Every cache entry's key → the createdAt of its manifest: a rebuilt entry would have a new one. */
async function entries(store: CacheStore): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of await store.keys()) {
    const lookup = await store.lookup(key);
    if (lookup.status !== 'hit') throw new Error(`cache entry ${key} is ${lookup.status}`);
    out[key] = lookup.entry.manifest.createdAt;
  }
  return out;
}

/** [step id, status] of each step event in a run's journal. */
function journalSteps(runDir: string): string[][] {
  return readFileSync(join(runDir, 'journal.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { event: string; id?: string; status?: string })
    .filter((e) => e.event === 'step')
    .map((e) => [e.id!, e.status!]);
}

function readdirNames(dir: string): string[] {
  return readdirSync(dir).sort();
}
