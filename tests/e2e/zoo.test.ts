// The model zoo end to end: the real qrun on every tests/fixtures/zoo model, both exporters' graphs
// (TorchScript onnx/model.onnx and dynamo onnx/model-dynamo.onnx) as a matrix, calibrated and
// checked against FP32 with onnxruntime by the sensitivity step. Placement is qdq.insert's default
// (it follows the model: MatMul/Gemm for transformers, Conv, residual Adds and Concats for a CNN).
// Asserted: the agreement with every layer INT8 (nothing in float, before any fallback) is ≥ 99% on
// the evaluation split for each method run, and the best of them ≥ 99.5% (issue 17 item 2), except
// the known shortfalls below, which are asserted at their measured values; the fallback to float is
// bounded (nothing, or the known number of layers) and then reaches the target. Every method on
// every trained model, in one process per model: tests/e2e/calibrators.test.ts. Text models load through
// hf.load (vision models too: no tokenizer, tensor data sets) and
// calibration / evaluation read tensors (pixel_values) from .tensors.jsonl files.
//   QRUN_ZOO_METHODS=minmax,percentile,entropy,mse,auto QRUN_ZOO_TABLE=1 npx vitest run tests/e2e/zoo.test.ts
// prints the table kept in docs/quantization.md.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { qrun, REPO, tempDir, type QrunResult } from '../helpers/cli.ts';
import type { Report } from '../../src/report/build-report.ts';

const ZOO = join(REPO, 'tests/fixtures/zoo');
const TEXT = ['bert', 'distilbert', 'electra', 'mpnet', 'roberta', 'xlm-roberta', 'albert', 'deberta-v2'];
const VISION = ['vit', 'resnet'];
const EXPORTERS = { 'model.onnx': 'torchscript', 'model-dynamo.onnx': 'dynamo' } as const;

/**
 * Model/method pairs whose full INT8 placement misses the 0.99 target today (docs/quantization.md,
 * the zoo table: same data, both exporters alike), with the agreement measured on the evaluation
 * split and how many layers the fallback leaves in float. They are asserted as they are, so a
 * regression or an improvement shows (issue 17 will revisit the calibrators; update this table and
 * the doc's together). Every pair not listed must reach 0.99 with nothing in float; `<model>/best`
 * stands for the best method's 0.995 (fullAgreement: the best's measured value).
 */
// None since calibrate keeps the known range of Softmax outputs (issue 17, item 1): vit/entropy was
// 4/20 with the two P·V MatMuls returned to float, distilbert/mse 126/128 with one; both are 1.0 now.
const KNOWN_SHORTFALLS: Record<string, { fullAgreement: number; inFloat: number; why: string }> = {};

/**
 * Calibration methods each model runs: QRUN_ZOO_METHODS when set; otherwise percentile (the
 * default of calibrate), plus the method of each known shortfall of that model, so that CI checks
 * the shortfalls' values and their bounded fallback too, not only the pairs that need no fallback.
 */
function methodsFor(model: string): string[] {
  if (process.env.QRUN_ZOO_METHODS) return process.env.QRUN_ZOO_METHODS.split(',');
  const known = Object.keys(KNOWN_SHORTFALLS).filter((k) => k.startsWith(`${model}/`)).map((k) => k.split('/')[1]!).filter((m) => m !== 'best');
  return [...new Set(['percentile', ...known])];
}

interface VariantResult {
  model: string;
  exporter: string;
  method: string;
  /** Status of each step of the variant's run, in order. */
  steps: [string, string][];
  /** Gates of the run and whether each passed. */
  gates: [string, boolean][];
  quantizedNodes: number;
  agreement: number;
  fullAgreement: number;
  maxAbsError: number;
  sqnrDb: number;
  fallback: string[];
  patch: Record<string, string>;
}

/** Splits a zoo data file by its "split" field into the two data sets a recipe names. */
function writeSplits(dir: string, source: string, vision: boolean): { calibration: string; evaluation: string } {
  const rows = readFileSync(join(ZOO, source), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const ext = vision ? 'tensors.jsonl' : 'jsonl';
  const out = { calibration: join(dir, `calib.${ext}`), evaluation: join(dir, `eval.${ext}`) };
  for (const [split, file] of [['calib', out.calibration], ['eval', out.evaluation]] as const) {
    writeFileSync(file, rows.filter((r) => r.split === split).map((r) => JSON.stringify(vision ? { pixel_values: r.pixel_values, label: r.label } : { text: r.text, label: r.label })).join('\n') + '\n');
  }
  return out;
}

function recipeFor(model: string, dir: string): string {
  const methods = methodsFor(model);
  const vision = VISION.includes(model);
  const data = writeSplits(dir, vision ? 'shapes-small.jsonl' : 'langid-small.jsonl', vision);
  // Vision models have no tokenizer: hf.load reads config.json and the graph, and the tensor data
  // sets (.tensors.jsonl) are read by calibrate and sensitivity as they are.
  const load = `  - id: load
    uses: hf.load
    with:
      onnx: onnx/\${{ matrix.onnx }}`;
  return `version: 1
name: zoo-${model}
model: ${join(ZOO, model)}
data:
  calibration: ${data.calibration}
  evaluation: ${data.evaluation}
matrix:
  onnx: [${Object.keys(EXPORTERS).join(', ')}]
  method: [${methods.join(', ')}]
steps:
${load}
  - id: patch
    uses: patch
  - id: qdq
    uses: qdq.insert
  - id: calibrate
    uses: calibrate
    with:
      method: \${{ matrix.method }}
  - id: sensitivity
    uses: sensitivity
    with:
      samples: 0
      perLayer: auto
      target:
        agreement: 0.99
gates:
  sensitivity.agreement: ">= 0.99"
`;
}

function variantResults(model: string, cache: string): VariantResult[] {
  const runs = join(cache, 'runs');
  const matrixDir = join(runs, readdirSync(runs).filter((d) => d.endsWith('-matrix')).sort().pop()!);
  const matrix = JSON.parse(readFileSync(join(matrixDir, 'matrix.json'), 'utf8')) as { variants: { variant: string; runId: string }[] };
  return matrix.variants.map((v) => {
    const report = JSON.parse(readFileSync(join(runs, v.runId, 'report.json'), 'utf8')) as Report;
    const metrics = (id: string) => (report.steps.find((s) => s.id === id)?.metrics ?? {}) as Record<string, any>;
    const axes = Object.fromEntries(v.variant.split(',').map((kv) => kv.split('=') as [string, string]));
    const s = metrics('sensitivity');
    // Missing metrics are an error here, not a default that would pass ("fallback ?? []").
    if (typeof s.agreement !== 'number' || typeof s.full?.agreement !== 'number' || !Array.isArray(s.fallback)) {
      throw new Error(`${model} ${v.variant}: the sensitivity step recorded no agreement / full.agreement / fallback`);
    }
    return {
      model,
      exporter: EXPORTERS[axes.onnx as keyof typeof EXPORTERS],
      method: axes.method!,
      steps: report.steps.map((x) => [x.id, x.status] as [string, string]),
      gates: report.gates.map((g) => [`${g.metric} ${g.op} ${g.value}`, g.pass] as [string, boolean]),
      quantizedNodes: metrics('qdq').quantizedNodes,
      agreement: s.agreement,
      fullAgreement: s.full.agreement,
      maxAbsError: s.maxAbsError,
      sqnrDb: s.sqnrDb,
      fallback: s.fallback,
      patch: metrics('patch').rules ?? {},
    };
  });
}

describe('model zoo: qrun on each model and each exporter', () => {
  const results = new Map<string, { run: QrunResult; variants: VariantResult[]; error?: string }>();

  beforeAll(async () => {
    // Two models at a time: each run is a separate process with its own onnxruntime sessions.
    const queue = [...TEXT, ...VISION];
    const worker = async () => {
      for (let model = queue.shift(); model; model = queue.shift()) {
        const dir = tempDir(`qrun-zoo-${model}-`);
        const recipe = join(dir, 'recipe.yaml');
        writeFileSync(recipe, recipeFor(model, dir));
        const run = await qrun([recipe, '--cache', join(dir, 'cache')]);
        try {
          results.set(model, { run, variants: variantResults(model, join(dir, 'cache')) });
        } catch (e) {
          // No matrix report (the run failed before its end) or no metrics: every test of this model fails with it.
          results.set(model, { run, variants: [], error: String(e) });
        }
      }
    };
    await Promise.all([worker(), worker()]);
    if (process.env.QRUN_ZOO_TABLE) printTable([...results.values()].flatMap((r) => r.variants));
  }, 600_000);

  /** The model's variants, failing the calling test when the run or its reports are missing. */
  function variantsOf(model: string): VariantResult[] {
    const r = results.get(model);
    if (!r) throw new Error(`${model}: beforeAll recorded no run`);
    const context = `${r.error ?? ''}\n${r.run.stdout.slice(-2000)}\n${r.run.stderr.slice(-2000)}`;
    expect(r.run.stderr, context).not.toMatch(/internal error|failed/i);
    expect(r.run.exitCode, context).toBe(0);
    expect(r.error, context).toBeUndefined();
    // One variant per exporter × method, each exporter once per method.
    expect(r.variants.map((v) => `${v.exporter}/${v.method}`).sort()).toEqual(Object.values(EXPORTERS).flatMap((e) => methodsFor(model).map((m) => `${e}/${m}`)).sort());
    return r.variants;
  }

  it.each([...TEXT, ...VISION])('%s: every exporter × method, with every layer INT8, agrees ≥ 0.99 with FP32, the best of several methods ≥ 0.995 (known shortfalls: at their measured value)', (model) => {
    for (const v of variantsOf(model)) {
      const name = `${model} ${v.exporter} ${v.method}`;
      expect(v.quantizedNodes, name).toBeGreaterThan(0);
      const known = KNOWN_SHORTFALLS[`${model}/${v.method}`];
      if (known) {
        // Still short by the same amount: a change either way (regression, or an improvement that
        // makes this entry obsolete) fails here until KNOWN_SHORTFALLS and the doc's table say so.
        expect(v.fullAgreement, `${name}: known shortfall (${known.why})`).toBeCloseTo(known.fullAgreement, 3);
      } else {
        expect(v.fullAgreement, name).toBeGreaterThanOrEqual(0.99);
      }
    }
    // The best method, per exporter, with every layer INT8: ≥ 99.5% (issue 17 item 2), when the run
    // compared methods (QRUN_ZOO_METHODS); CI's single method is held to 99% above, and
    // tests/e2e/calibrators.test.ts holds the best of all five to 99.5% on every model.
    if (methodsFor(model).length < 2) return;
    for (const exporter of Object.values(EXPORTERS)) {
      const full = variantsOf(model).filter((v) => v.exporter === exporter);
      const best = full.reduce((b, v) => (v.fullAgreement > b.fullAgreement ? v : b));
      const known = KNOWN_SHORTFALLS[`${model}/best`];
      if (known) expect(best.fullAgreement, `${model} ${exporter}: known shortfall of the best method (${known.why})`).toBeCloseTo(known.fullAgreement, 3);
      else expect(best.fullAgreement, `${model} ${exporter}: best method ${best.method}`).toBeGreaterThanOrEqual(0.995);
    }
  });

  it.each([...TEXT, ...VISION])('%s: the fallback leaves nothing in float, or exactly the known layers, and the result passes the agreement gate', (model) => {
    for (const v of variantsOf(model)) {
      const name = `${model} ${v.exporter} ${v.method}`;
      const inFloat = KNOWN_SHORTFALLS[`${model}/${v.method}`]?.inFloat ?? 0;
      expect(v.fallback.length, `${name}: left in float: ${v.fallback.join(', ')}`).toBe(inFloat);
      // Nothing in float means the final model is the fully quantized one.
      if (inFloat === 0) expect(v.agreement, name).toBe(v.fullAgreement);
      expect(v.agreement, name).toBeGreaterThanOrEqual(0.99);
      // Every step of the variant finished (variants share load/patch/qdq, so those are cache hits).
      expect(v.steps.map(([id]) => id), name).toEqual(['load', 'patch', 'qdq', 'calibrate', 'sensitivity']);
      expect(v.steps.filter(([, status]) => status !== 'ran' && status !== 'hit'), name).toEqual([]);
      expect(v.gates, name).toEqual([['sensitivity.agreement >= 0.99', true]]);
    }
  });

  it.each([...TEXT, ...VISION])('%s: placement finds the same layers in the TorchScript and the dynamo graph', (model) => {
    const variants = variantsOf(model);
    const by = (e: string) => methodsFor(model).map((m) => variants.find((v) => v.exporter === e && v.method === m)!.quantizedNodes);
    expect(by('dynamo')).toEqual(by('torchscript'));
  });

  it('resnet: the TorchScript graph keeps BatchNormalization, which the patch folds; the dynamo graph has none left', () => {
    const variants = variantsOf('resnet');
    for (const v of variants.filter((x) => x.exporter === 'torchscript')) expect(v.patch['fold-batchnorm']).toBe('applied: 6 BatchNormalization folded into Conv');
    for (const v of variants.filter((x) => x.exporter === 'dynamo')) expect(v.patch['fold-batchnorm']).toMatch(/^not applied/);
  });

  it('every known shortfall names a zoo model and a calibration method', () => {
    for (const key of Object.keys(KNOWN_SHORTFALLS)) {
      const [model, method] = key.split('/');
      expect([...TEXT, ...VISION]).toContain(model);
      expect(['minmax', 'percentile', 'entropy', 'mse', 'auto', 'best']).toContain(method);
    }
  });
});

function printTable(rows: VariantResult[]): void {
  const lines = ['| model | exporter | method | layers quantized | agreement (full INT8) | agreement (final) | max abs error | SQNR dB | left in float |', '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |'];
  for (const r of rows) {
    lines.push(`| ${r.model} | ${r.exporter} | ${r.method} | ${r.quantizedNodes} | ${r.fullAgreement.toFixed(4)} | ${r.agreement.toFixed(4)} | ${r.maxAbsError.toFixed(4)} | ${r.sqnrDb.toFixed(1)} | ${r.fallback.length ? r.fallback.join(', ') : '—'} |`);
  }
  console.log(lines.join('\n'));
}
