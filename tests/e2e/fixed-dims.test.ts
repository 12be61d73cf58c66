// A model exported with fixed input dims (batch 1, sequence 128, as an exporter without dynamic axes
// writes it) through the real CLI: calibrated on samples padded to 128 tokens in batches of 1, and
// benchmarked at its own shape, with a warning that names its dims and the recipe line to write —
// where onnxruntime used to stop the run with "Got invalid dimensions for input: input_ids".
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeModel } from '../../src/onnx/model-io.ts';
import { readModelWithData } from '../../src/runtime/model-file.ts';
import type { Report } from '../../src/report/build-report.ts';
import { BERT_DIR, BERT_ONNX } from '../helpers/bert-langid.ts';
import { qrun, REPO, tempDir, type QrunResult } from '../helpers/cli.ts';
import { withFixedInputDims } from '../helpers/fixed-dims.ts';
import { latestReport, step } from '../helpers/report.ts';

describe('a model with fixed input dims [1, 128]', () => {
  const dir = tempDir();
  let run: QrunResult;
  let report: Report;

  beforeAll(async () => {
    // The shipped model folder, its graph's inputs fixed at [1, 128].
    const model = join(dir, 'bert-fixed');
    mkdirSync(join(model, 'onnx'), { recursive: true });
    for (const f of readdirSync(BERT_DIR)) if (f.endsWith('.json') || f.endsWith('.txt')) copyFileSync(join(BERT_DIR, f), join(model, f));
    writeFileSync(join(model, 'onnx', 'model.onnx'), encodeModel(withFixedInputDims(await readModelWithData(BERT_ONNX), [1, 128])));
    const recipe = join(dir, 'recipe.yaml');
    // bench keeps its default shapes (1×32, 1×128, 8×128): two of them cannot be fed to this model.
    writeFileSync(
      recipe,
      `version: 1
name: fixed-dims
model: ${model}
data:
  calibration: ${join(REPO, 'data/langid/calib.jsonl')}
  evaluation: ${join(REPO, 'data/langid/eval.jsonl')}
steps:
  - { id: load, uses: hf.load }
  - { id: qdq, uses: qdq.insert, with: { ops: [MatMul, Gemm] } }
  - { id: calibrate, uses: calibrate, with: { samples: 48 } }
  - { id: bench, uses: bench, with: { samples: 96, warmup: 1, iterations: 4, blocks: 2 } }
gates:
  bench.agreement: ">= 0.98"
`,
    );
    run = await qrun([recipe, '--cache', join(dir, 'cache')]);
    report = latestReport(join(dir, 'cache')).report;
  }, 300_000);

  it('runs (no "Got invalid dimensions"): calibrated at [1, 128] and as accurate as the dynamic model is', () => {
    expect(run.stderr).not.toMatch(/invalid dimensions/i);
    expect(run.exitCode).toBe(0);
    expect(report.run.status).toBe('passed');
    const calibrate = step(report, 'calibrate').metrics as { samples: number; batches: number };
    // Batches of the model's fixed size 1, whatever the recipe's batchSize (16).
    expect(calibrate).toMatchObject({ samples: 48, batches: 48 });
    expect((step(report, 'bench').metrics as { agreement: number }).agreement).toBeGreaterThanOrEqual(0.98);
  });

  it('times the model at its own shape, 1×128, and warns that the recipe’s other shapes cannot be fed, naming the dims and the line to write', () => {
    const latency = (step(report, 'bench').metrics as { latency: { batch: number; sequence: number }[] }).latency;
    expect(latency.map((l) => `${l.batch}×${l.sequence}`)).toEqual(['1×128']);
    expect(run.stdout).toContain(
      "  bench ⚠ bench: the model's inputs are fixed at batch 1 and sequence 128 (input_ids [1, 128], attention_mask [1, 128], token_type_ids [1, 128]): " +
        "shapes 1×32, 8×128 cannot be fed, timing 1×128 instead; set bench's shapes: [{ batch: 1, sequence: 128 }] in the recipe to time these without this warning",
    );
  });
});
