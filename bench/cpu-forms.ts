// The int8 forms of one FP32 model that onnxruntime's CPU runs, with the same calibrated ranges:
// FP32, qrun's TensorRT form (qdq.insert defaults), qrun's cpu profile (and with less fused), and onnxruntime's quantize_dynamic form (qrun mode: dynamic). `npm run bench` times them
// (bench/run-bench.ts); the device job s1-speed writes them for Python onnxruntime on another CPU.
//
//   npx tsx bench/cpu-forms.ts [--graphs-only] FP32.onnx calibration.json OUT_DIR   # writes OUT_DIR/<form>.onnx
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeModel, encodeModel } from '../src/onnx/model-io.ts';
import type { ModelProto } from '../src/onnx/types.ts';
import { applyActivationScales, findActivationSlots, type CalibratedRange } from '../src/quant/activation-scales.ts';
import { placeQdqForTensorRT, type QdqPlacementOptions } from '../src/quant/place-qdq.ts';
import { placeForCpu } from '../src/quant/placement-profile.ts';
import { readModelWithData, writeModelFile } from '../src/runtime/model-file.ts';

const TENSORRT: QdqPlacementOptions = { ops: ['MatMul', 'Gemm'], excludeOps: [], excludeNodes: [], activations: 'int8', weights: 'per-channel', attentionMatMuls: true, residualAdd: false, mode: 'static' };

export interface CpuForm {
  name: string;
  /** What the row says. */
  label: string;
  build(m: ModelProto): void;
  /** Static forms take the calibrated ranges. */
  calibrated: boolean;
}

export const CPU_FORMS: CpuForm[] = [
  { name: 'tensorrt', label: 'qrun static INT8, target: tensorrt (Q/DQ)', build: (m) => void placeQdqForTensorRT(m, TENSORRT), calibrated: true },
  { name: 'cpu', label: 'qrun static INT8, target: cpu', build: (m) => void placeForCpu(m, { excludeNodes: [], excludeOps: [], weights: 'per-channel' }), calibrated: true },
  { name: 'cpu-qkv', label: 'qrun static INT8, target: cpu, attention not fused (Q/K/V one GEMM)', build: (m) => void placeForCpu(m, { excludeNodes: [], excludeOps: [], weights: 'per-channel', fuseAttention: false }), calibrated: true },
  { name: 'cpu-unfused', label: 'qrun static INT8, target: cpu, neither attention nor Q/K/V fused', build: (m) => void placeForCpu(m, { excludeNodes: [], excludeOps: [], weights: 'per-channel', fuseAttention: false, fuseQkv: false }), calibrated: true },
  { name: 'dynamic', label: "qrun mode: dynamic (onnxruntime's quantize_dynamic form)", build: (m) => void placeQdqForTensorRT(m, { ...TENSORRT, mode: 'dynamic' }), calibrated: false },
];

/** Calibration ranges by tensor, from the calibrate step's calibration.json. */
export function readRanges(file: string): Map<string, CalibratedRange> {
  const stats = JSON.parse(readFileSync(file, 'utf8')) as { tensors: ({ tensor: string } & CalibratedRange)[] };
  return new Map(stats.tensors.map((t) => [t.tensor, t]));
}

/** One form of the FP32 model at `fp32`, as bytes, its activations scaled from `ranges`. */
export async function buildForm(fp32: string, form: CpuForm, ranges: Map<string, CalibratedRange>): Promise<Uint8Array> {
  const m = await readModelWithData(fp32);
  form.build(m);
  if (form.calibrated) {
    const slots = findActivationSlots(m);
    applyActivationScales(
      m,
      slots,
      slots.map((s) => {
        const r = ranges.get(s.tensor);
        if (!r) throw new Error(`form ${form.name}: no calibrated range for ${s.tensor}`);
        return r;
      }),
    );
  }
  return encodeModel(m);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // --graphs-only: each model's tensors of 64 KiB or more as external data whose file is left out
  // (a few hundred KB per model): what the device job s1-speed carries; it refills the data with
  // random values of each tensor's type (latency does not depend on them).
  const graphsOnly = process.argv.includes('--graphs-only');
  const [fp32, stats, outDir] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  if (!fp32 || !stats || !outDir) throw new Error('usage: cpu-forms.ts [--graphs-only] FP32.onnx calibration.json OUT_DIR');
  mkdirSync(outDir, { recursive: true });
  const ranges = readRanges(stats);
  const write = async (name: string, bytes: Uint8Array) => {
    const file = join(outDir, `${name}.onnx`);
    if (!graphsOnly) return writeFileSync(file, bytes);
    await writeModelFile(decodeModel(bytes), file, { externalData: 'always', threshold: 65536 });
    rmSync(`${file}.data`);
  };
  if (graphsOnly) await write('fp32', readFileSync(fp32));
  for (const f of CPU_FORMS) {
    await write(f.name, await buildForm(fp32, f, ranges));
    process.stdout.write(`${f.name}.onnx: ${f.label}\n`);
  }
}
