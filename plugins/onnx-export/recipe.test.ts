// End to end: the real CLI runs recipes/bert-native.yaml, where onnx.export builds the FP32 graph
// from the shipped safetensors after hf.load, and every later step must take the export's model.
import { beforeAll, describe, expect, it } from 'vitest';
import { qrun, tempDir, type QrunResult } from '../../tests/helpers/cli.ts';
import { latestReport, step } from '../../tests/helpers/report.ts';
import type { Report } from '../../src/report/build-report.ts';

describe('qrun recipes/bert-native.yaml', () => {
  const cache = tempDir();
  let result: QrunResult;
  let report: Report;

  beforeAll(async () => {
    result = await qrun(['recipes/bert-native.yaml', '--cache', cache]);
    ({ report } = latestReport(cache));
  });

  it('exits 0 and passes the agreement gate', () => {
    expect(result.stderr).not.toMatch(/internal error/);
    expect(result.exitCode).toBe(0);
    expect(report.gates).toEqual([expect.objectContaining({ metric: 'bench.agreement', pass: true })]);
  });

  it('feeds the natively exported model, not hf.load’s ONNX copy, to the later steps', () => {
    const load = step(report, 'load').outputs!.model!.sha256;
    const exported = step(report, 'export').outputs!.model!.sha256;
    expect(exported).not.toBe(load);
    // No patch rule matches the native graph (no Identity, no int CumSum), so patch passes the
    // export's bytes through unchanged: its output digest shows which model it was given.
    expect(step(report, 'patch').outputs!.model!.sha256).toBe(exported);
    expect(step(report, 'export').metrics).toMatchObject({ family: 'bert', task: 'sequence-classification', weights: 'checkpoint' });
  });

  it('quantizes the native graph like the PyTorch one: every MatMul, per-channel int8 weights', () => {
    const qdq = step(report, 'qdq').metrics as { quantizedNodes: number; weightTensors: number };
    // 4 layers × (Q, K, V, attention output, FFN in, FFN out, Q·Kᵀ, P·V) + pooler + classifier
    expect(qdq.quantizedNodes).toBe(4 * 8 + 2);
    expect(qdq.weightTensors).toBe(4 * 6 + 2);
    const bench = step(report, 'bench').metrics as { agreement: number; fp32Accuracy: number };
    expect(bench.agreement).toBeGreaterThanOrEqual(0.99);
    expect(bench.fp32Accuracy).toBeGreaterThan(0.9);
  });
});
