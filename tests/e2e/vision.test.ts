// A vision model end to end through the same steps as text: hf.load (no tokenizer), QDQ on Conv and
// Gemm, calibration and bench on image tensors read from a .tensors.jsonl file.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qrun, REPO, tempDir } from '../helpers/cli.ts';
import { latestReport, step } from '../helpers/report.ts';

describe('vision: the zoo ResNet', () => {
  it('quantizes, calibrates and benches on image tensors', async () => {
    const dir = tempDir();
    const rows = readFileSync(join(REPO, 'tests/fixtures/zoo/shapes-small.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { pixel_values: unknown; label: string; split: string });
    const write = (split: string) => {
      const file = join(dir, `${split}.tensors.jsonl`);
      writeFileSync(file, rows.filter((r) => r.split === split).map((r) => JSON.stringify({ pixel_values: r.pixel_values, label: r.label })).join('\n') + '\n');
      return file;
    };
    writeFileSync(
      join(dir, 'recipe.yaml'),
      `name: resnet
model: ${join(REPO, 'tests/fixtures/zoo/resnet')}
data:
  calibration: ${write('calib')}
  evaluation: ${write('eval')}
steps:
  - { id: load, uses: hf.load }
  - { id: patch, uses: patch, with: { rules: [fold-batchnorm, remove-identity] } }
  - { id: qdq, uses: qdq.insert, with: { ops: [Conv, Gemm, MatMul] } }
  - { id: calibrate, uses: calibrate, with: { method: minmax } }
  - { id: bench, uses: bench, with: { warmup: 1, iterations: 5, shapes: [{ batch: 1, sequence: 1 }, { batch: 4, sequence: 1 }] } }
`,
    );
    const r = await qrun([join(dir, 'recipe.yaml'), '--cache', join(dir, 'c')]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const { report } = latestReport(join(dir, 'c'));
    expect(step(report, 'load').metrics).toMatchObject({ maxLength: null, tensorData: ['calibration', 'evaluation'] });
    expect((step(report, 'patch').metrics as { rules: Record<string, string> }).rules['fold-batchnorm']).toMatch(/^applied/);
    const bench = step(report, 'bench').metrics as { agreement: number; fp32Accuracy: number; latency: { batch: number }[] };
    expect(bench.agreement).toBeGreaterThanOrEqual(0.95);
    expect(bench.fp32Accuracy).toBeGreaterThan(0.5);
    expect(bench.latency.map((l) => l.batch)).toEqual([1, 4]);
  });
});
