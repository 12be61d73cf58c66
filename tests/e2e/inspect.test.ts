// `qrun inspect`: what a user needs to write `exclude.nodes` and to see what a run quantized.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qrun, REPO, tempDir } from '../helpers/cli.ts';

const MODEL = join(REPO, 'models/bert-langid');
const CALIB = join(REPO, 'data/langid/calib.jsonl');

describe('qrun inspect', () => {
  it('a model folder: inputs and outputs with their symbolic shapes, an op histogram, every quantizable node by name', async () => {
    const r = await qrun(['inspect', MODEL]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/input\s+input_ids\s+int64\s+\[batch, sequence\]/);
    expect(r.stdout).toMatch(/output\s+logits\s+float\s+\[batch, 9\]/);
    expect(r.stdout).toMatch(/MatMul 32 .*Gemm 2/);
    expect(r.stdout).toContain('quantizable nodes: 34');
    expect(r.stdout).toMatch(/\/m\/classifier\/Gemm\s+Gemm/);
    const json = JSON.parse((await qrun(['inspect', MODEL, '--json'])).stdout) as { graph: { quantizable: { name: string; precision: string }[] } };
    expect(json.graph.quantizable).toHaveLength(34);
    expect(json.graph.quantizable.every((n) => n.precision === 'float')).toBe(true);
  });

  it('a run: which nodes are int8 with their calibrated ranges, and which stayed float and why (exclude.nodes)', async () => {
    const dir = tempDir();
    const recipe = join(dir, 'recipe.yaml');
    writeFileSync(
      recipe,
      `version: 1\nname: inspect-me\nmodel: ${MODEL}\ndata:\n  calibration: ${CALIB}\nsteps:\n  - { id: load, uses: hf.load }\n  - id: qdq\n    uses: qdq.insert\n    with:\n      exclude:\n        nodes: [classifier]\n  - { id: calibrate, uses: calibrate, with: { method: minmax } }\n`,
    );
    const run = await qrun([recipe, '--cache', join(dir, '.qrun')]);
    expect(run.exitCode, run.stderr).toBe(0);
    const [runId] = readdirSync(join(dir, '.qrun', 'runs'));
    const r = await qrun(['inspect', join(dir, '.qrun', 'runs', runId!), '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as {
      run: { step: string };
      graph: { quantizable: { name: string; precision: string; activations: { min: number; max: number; scale: number }[] }[] };
      floatReasons: Record<string, string>;
    };
    expect(result.run.step).toBe('calibrate');
    const byName = new Map(result.graph.quantizable.map((n) => [n.name, n]));
    expect(byName.get('/m/classifier/Gemm')?.precision).toBe('float');
    expect(result.floatReasons['/m/classifier/Gemm']).toBe('qdq: excluded by name');
    const query = byName.get('/m/bert/encoder/layer.0/attention/self/query/MatMul')!;
    expect(query.precision).toBe('int8');
    // Calibrated (minmax), not qdq.insert's placeholder scale of 1 (which would read [-128, 127]).
    expect(query.activations).toHaveLength(1);
    expect(query.activations[0]!.scale).not.toBe(1);
    expect(query.activations[0]!.max).toBeCloseTo(127 * query.activations[0]!.scale, 6);
    expect(result.graph.quantizable.filter((n) => n.precision === 'int8')).toHaveLength(33);
    const text = await qrun(['inspect', join(dir, '.qrun', 'runs', runId!, 'report.json')]);
    expect(text.stdout).toContain('quantizable nodes: 34 (33 int8, 0 weights only, 1 float)');
    expect(text.stdout).toMatch(/\/m\/classifier\/Gemm\s+Gemm\s+float\s.*qdq: excluded by name/);
  });

  it('a path that is neither a model nor a report: MODEL_INVALID naming it, exit 1', async () => {
    const r = await qrun(['inspect', join(REPO, 'docs')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/error MODEL_INVALID: .*docs is not a Hugging Face model directory/);
  });
});
