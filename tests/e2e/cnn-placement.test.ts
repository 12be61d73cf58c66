// Convolution networks with qdq.insert's defaults (issue 17 item 5), end to end through the real
// CLI: the zoo's ResNet and its FPN-style CNN (residual blocks, BatchNorm, a Concat of two
// resolutions) get Q/DQ on every Conv, on the shortcut of every residual Add and on every Concat
// input, the Concat inputs share the scale of the Concat's output, and the quantized model agrees
// with FP32 on the zoo's evaluation images through onnxruntime (sensitivity's full-INT8 numbers).
// Before, the defaults quantized only the classifier's Gemm.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { indexGraph } from '../../src/onnx/graph.ts';
import { decodeModel } from '../../src/onnx/model-io.ts';
import { tensorToFloat32 } from '../../src/onnx/tensor.ts';
import type { ModelProto } from '../../src/onnx/types.ts';
import { qrun, REPO, tempDir } from '../helpers/cli.ts';
import { latestReport, step } from '../helpers/report.ts';

const ZOO = join(REPO, 'tests/fixtures/zoo');

function writeSplits(dir: string): { calibration: string; evaluation: string } {
  const rows = readFileSync(join(ZOO, 'shapes-small.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { pixel_values: unknown; label: string; split: string });
  const out = { calibration: join(dir, 'calib.tensors.jsonl'), evaluation: join(dir, 'eval.tensors.jsonl') };
  for (const [split, file] of [['calib', out.calibration], ['eval', out.evaluation]] as const) {
    writeFileSync(file, rows.filter((r) => r.split === split).map((r) => JSON.stringify({ pixel_values: r.pixel_values, label: r.label })).join('\n') + '\n');
  }
  return out;
}

interface Expected {
  residualAdds: number;
  concats: number;
}

// Counted in each graph: ResNet (TorchScript export, BatchNorm kept and folded by patch) has two
// basic blocks, the second with a projection shortcut; the FPN has three residual blocks and one Concat.
const MODELS: Record<string, Expected> = {
  resnet: { residualAdds: 2, concats: 0 },
  fpn: { residualAdds: 3, concats: 1 },
};

const scaleOf = (m: ModelProto, name: string) => tensorToFloat32(m.graph.initializer.find((t) => t.name === name)!)[0]!;

describe.each(Object.entries(MODELS))('zoo %s with qdq.insert defaults', (model, expected) => {
  it('Conv, residual Adds and Concats get Q/DQ, Concat inputs share one scale, agreement with FP32 ≥ 0.99', async () => {
    const dir = tempDir(`qrun-cnn-${model}-`);
    const data = writeSplits(dir);
    writeFileSync(
      join(dir, 'recipe.yaml'),
      `name: cnn-${model}
model: ${join(ZOO, model)}
data:
  calibration: ${data.calibration}
  evaluation: ${data.evaluation}
steps:
  - { id: load, uses: hf.load }
  - { id: patch, uses: patch }
  - { id: qdq, uses: qdq.insert }
  - { id: calibrate, uses: calibrate }
  - { id: sensitivity, uses: sensitivity, with: { samples: 0, perLayer: auto } }
`,
    );
    const cache = join(dir, 'c');
    const r = await qrun([join(dir, 'recipe.yaml'), '--cache', cache]);
    expect(r.exitCode, r.stderr + r.stdout.slice(-2000)).toBe(0);
    const { report } = latestReport(cache);
    const q = step(report, 'qdq').metrics as Record<string, unknown>;
    expect(q).toMatchObject({ placement: 'cnn', residualAdds: expected.residualAdds, concats: expected.concats });

    // The calibrated graph: what the steps after calibrate (and TensorRT) get.
    const m = decodeModel(readFileSync(join(cache, 'cache', step(report, 'calibrate').outputs!.model!.path)));
    const index = indexGraph(m.graph);
    const from = (t: string) => index.producers.get(t)?.opType;
    const convs = m.graph.node.filter((n) => n.opType === 'Conv');
    expect(convs.length).toBeGreaterThanOrEqual(5);
    for (const c of convs) expect([from(c.input[0]!), from(c.input[1]!)], c.name).toEqual(['DequantizeLinear', 'DequantizeLinear']);
    const gemm = m.graph.node.filter((n) => n.opType === 'Gemm');
    for (const g of gemm) expect(from(g.input[0]!), g.name).toBe('DequantizeLinear');
    // Residual Adds: the shortcut dequantized, the other input straight out of its Conv (TensorRT fuses Conv + Add).
    const residual = m.graph.node.filter((n) => n.opType === 'Add' && n.input.every((t) => index.producers.has(t)) && n.input.some((t) => from(t) === 'DequantizeLinear'));
    expect(residual).toHaveLength(expected.residualAdds);
    for (const a of residual) expect(a.input.map(from).sort(), a.name).toEqual(['Conv', 'DequantizeLinear']);
    // Concats: every input dequantized, all at the scale that re-quantizes the output.
    const concats = m.graph.node.filter((n) => n.opType === 'Concat' && n.input.some((t) => from(t) === 'DequantizeLinear'));
    expect(concats).toHaveLength(expected.concats);
    for (const c of concats) {
      const inputScales = c.input.map((t) => scaleOf(m, index.producers.get(t)!.input[1]!));
      const outputScales = (index.consumers.get(c.output[0]!) ?? []).filter((n) => n.opType === 'QuantizeLinear').map((n) => scaleOf(m, n.input[1]!));
      expect(outputScales.length, c.name).toBeGreaterThan(0);
      expect(new Set([...inputScales, ...outputScales]).size, `${c.name}: ${inputScales} → ${outputScales}`).toBe(1);
    }

    const s = step(report, 'sensitivity').metrics as { full: { agreement: number }; quantizedNodes: number; fallback: string[] };
    expect(s.quantizedNodes).toBeGreaterThanOrEqual(convs.length + gemm.length);
    expect(s.fallback).toEqual([]);
    expect(s.full.agreement).toBeGreaterThanOrEqual(0.99);
  });
});

describe('the zoo CNN quantized by the torch worker (module swap, QAT), through qrun', () => {
  // tests/fixtures/zoo/fpn/qat/model-qdq.onnx: scripts/make-zoo/make_cnn.py's QAT export
  // (module_swap.py: BatchNorm folded, Conv2d/Linear swapped, residual and Concat quantizers, one
  // epoch of distillation), handed to sensitivity as a qdq-model, as qrun's own PTQ output is.
  it('has qdq.insert’s layout (Conv/Gemm inputs, residual shortcuts, Concat at one scale) and agrees with FP32 ≥ 0.99', async () => {
    const dir = tempDir('qrun-cnn-qat-');
    const data = writeSplits(dir);
    const qat = join(ZOO, 'fpn/qat/model-qdq.onnx');
    writeFileSync(
      join(dir, 'recipe.yaml'),
      `name: fpn-module-swap-qat
model: ${join(ZOO, 'fpn')}
data:
  calibration: ${data.calibration}
  evaluation: ${data.evaluation}
steps:
  - { id: load, uses: hf.load }
  - id: qat
    uses: command
    with:
      run: [cp, ${qat}, '{outputs.model}']
      outputs: { model: { path: model.onnx, kind: qdq-model } }
  - { id: sensitivity, uses: sensitivity, with: { samples: 0, perLayer: auto } }
`,
    );
    const cache = join(dir, 'c');
    const r = await qrun([join(dir, 'recipe.yaml'), '--cache', cache]);
    expect(r.exitCode, r.stderr + r.stdout.slice(-2000)).toBe(0);
    const m = decodeModel(readFileSync(qat));
    const index = indexGraph(m.graph);
    const from = (t: string) => index.producers.get(t)?.opType;
    const layers = m.graph.node.filter((n) => n.opType === 'Conv' || n.opType === 'Gemm');
    for (const c of layers) {
      expect([from(c.input[0]!), from(c.input[1]!)], c.name).toEqual(['DequantizeLinear', 'DequantizeLinear']);
      expect(index.initializers.get(index.producers.get(c.input[1]!)!.input[0]!)?.dataType, c.name).toBe(3); // int8 weight initializer
    }
    const residual = m.graph.node.filter((n) => n.opType === 'Add' && n.input.some((t) => from(t) === 'DequantizeLinear'));
    expect(residual.map((a) => a.input.map(from).sort())).toEqual(new Array(3).fill(['Conv', 'DequantizeLinear']));
    const cat = m.graph.node.find((n) => n.opType === 'Concat')!;
    const scales = [...cat.input.map((t) => index.producers.get(t)!), ...(index.consumers.get(cat.output[0]!) ?? [])].map((n) => scaleOf(m, n.input[1]!));
    expect(scales).toHaveLength(3);
    expect(new Set(scales).size).toBe(1);
    const { report } = latestReport(cache);
    const s = step(report, 'sensitivity').metrics as { full: { agreement: number }; quantizedNodes: number; fallback: string[] };
    expect(s.quantizedNodes).toBeGreaterThanOrEqual(layers.length);
    expect(s.fallback).toEqual([]);
    expect(s.full.agreement).toBeGreaterThanOrEqual(0.99);
  });
});
