// The model zoo end to end: the real qrun on every tests/fixtures/zoo model, both exporters' graphs
// (TorchScript onnx/model.onnx and dynamo onnx/model-dynamo.onnx) as a matrix, calibrated and
// checked against FP32 with onnxruntime by the sensitivity step: ≥ 99% prediction agreement on the
// evaluation split, falling back layers to float where needed (recorded). Text models load through
// hf.load (vision models too: no tokenizer, tensor data sets) and
// calibration / evaluation read tensors (pixel_values) from .tensors.jsonl files.
//   QRUN_ZOO_METHODS=minmax,percentile,entropy,mse QRUN_ZOO_TABLE=1 npx vitest run tests/e2e/zoo.test.ts
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
const METHODS = (process.env.QRUN_ZOO_METHODS ?? 'percentile').split(',');

interface VariantResult {
  model: string;
  exporter: string;
  method: string;
  status: string;
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
  method: [${METHODS.join(', ')}]
steps:
${load}
  - id: patch
    uses: patch
  - id: qdq
    uses: qdq.insert
    with:
      ops: [MatMul, Gemm, Conv]
      residualAdd: ${model === 'resnet'}
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
  const matrix = JSON.parse(readFileSync(join(matrixDir, 'matrix.json'), 'utf8')) as { variants: { variant: string; runId: string; status: string }[] };
  return matrix.variants.map((v) => {
    const report = JSON.parse(readFileSync(join(runs, v.runId, 'report.json'), 'utf8')) as Report;
    const metrics = (id: string) => (report.steps.find((s) => s.id === id)?.metrics ?? {}) as Record<string, any>;
    const axes = Object.fromEntries(v.variant.split(',').map((kv) => kv.split('=') as [string, string]));
    const s = metrics('sensitivity');
    return {
      model,
      exporter: EXPORTERS[axes.onnx as keyof typeof EXPORTERS],
      method: axes.method!,
      status: v.status,
      quantizedNodes: metrics('qdq').quantizedNodes,
      agreement: s.agreement,
      fullAgreement: s.full?.agreement,
      maxAbsError: s.maxAbsError,
      sqnrDb: s.sqnrDb,
      fallback: s.fallback ?? [],
      patch: metrics('patch').rules ?? {},
    };
  });
}

describe('model zoo: qrun on each model and each exporter', () => {
  const results = new Map<string, { run: QrunResult; variants: VariantResult[] }>();

  beforeAll(async () => {
    // Two models at a time: each run is a separate process with its own onnxruntime sessions.
    const queue = [...TEXT, ...VISION];
    const worker = async () => {
      for (let model = queue.shift(); model; model = queue.shift()) {
        const dir = tempDir(`qrun-zoo-${model}-`);
        const recipe = join(dir, 'recipe.yaml');
        writeFileSync(recipe, recipeFor(model, dir));
        const run = await qrun([recipe, '--cache', join(dir, 'cache')]);
        let variants: VariantResult[] = [];
        try {
          variants = variantResults(model, join(dir, 'cache'));
        } catch {
          // No matrix report: the run failed before its end; the assertions show its output.
        }
        results.set(model, { run, variants });
      }
    };
    await Promise.all([worker(), worker()]);
    if (process.env.QRUN_ZOO_TABLE) printTable([...results.values()].flatMap((r) => r.variants));
  }, 600_000);

  it.each([...TEXT, ...VISION])('%s: every exporter × method reaches ≥ 99%% agreement with FP32', (model) => {
    const r = results.get(model)!;
    expect(r.run.stderr, r.run.stdout.slice(-2000)).not.toMatch(/internal error|failed/i);
    expect(r.run.exitCode, r.run.stdout.slice(-2000)).toBe(0);
    expect(r.variants).toHaveLength(2 * METHODS.length);
    for (const v of r.variants) {
      expect(v.status, `${model} ${v.exporter} ${v.method}`).toBe('ok');
      expect(v.agreement, `${model} ${v.exporter} ${v.method}`).toBeGreaterThanOrEqual(0.99);
      expect(v.quantizedNodes).toBeGreaterThan(0);
    }
  });

  it.each([...TEXT, ...VISION])('%s: placement finds the same layers in the TorchScript and the dynamo graph', (model) => {
    const r = results.get(model)!;
    const by = (e: string) => r.variants.filter((v) => v.exporter === e).map((v) => v.quantizedNodes);
    expect(by('dynamo')).toEqual(by('torchscript'));
  });

  it('resnet: the TorchScript graph keeps BatchNormalization, which the patch folds; the dynamo graph has none left', () => {
    const variants = results.get('resnet')!.variants;
    expect(variants.find((v) => v.exporter === 'torchscript')!.patch['fold-batchnorm']).toBe('applied: 6 BatchNormalization folded into Conv');
    expect(variants.find((v) => v.exporter === 'dynamo')!.patch['fold-batchnorm']).toMatch(/^not applied/);
  });
});

function printTable(rows: VariantResult[]): void {
  const lines = ['| model | exporter | method | layers quantized | agreement (full INT8) | agreement (final) | max abs error | SQNR dB | left in float |', '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |'];
  for (const r of rows) {
    lines.push(`| ${r.model} | ${r.exporter} | ${r.method} | ${r.quantizedNodes} | ${r.fullAgreement.toFixed(4)} | ${r.agreement.toFixed(4)} | ${r.maxAbsError.toFixed(4)} | ${r.sqnrDb.toFixed(1)} | ${r.fallback.length ? r.fallback.join(', ') : '—'} |`);
  }
  console.log(lines.join('\n'));
}
