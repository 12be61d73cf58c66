// Other QDQ forms of the same FP32 model, with the ranges the calibrate step measured, timed
// against FP32 in one process (interleaved, medians): which form onnxruntime's CPU kernels run
// fastest, and how many MatMuls each one fuses. QRUN_BENCH_VARIANTS=1 npm run bench.
import type ort from 'onnxruntime-node';
import { decodeModel, encodeModel } from '../src/onnx/model-io.ts';
import type { ModelProto } from '../src/onnx/types.ts';
import { applyActivationScales, findActivationSlots, type CalibratedRange } from '../src/quant/activation-scales.ts';
import { placeQdqForTensorRT, type QdqPlacementOptions } from '../src/quant/place-qdq.ts';

export interface PlacementVariant {
  name: string;
  options: Partial<QdqPlacementOptions>;
  /** A rewrite after placement (an experiment qdq.insert has no option for). */
  post?: (m: ModelProto) => void;
}

/** qdq.insert's defaults: what the bench's main INT8 model uses. */
const DEFAULTS: QdqPlacementOptions = { ops: ['MatMul', 'Gemm'], excludeOps: [], excludeNodes: [], activations: 'int8', weights: 'per-channel', attentionMatMuls: true, residualAdd: false, mode: 'static' };

/**
 * One QuantizeLinear per activation tensor, its consumers each keeping their own DequantizeLinear
 * (the form quantize_static writes): fewer Q nodes, but onnxruntime converts an int8 Q/DQ pair to
 * uint8 on x86 only when the Q has a single consumer (QDQS8ToU8Transformer).
 */
export function shareActivationQuantizers(m: ModelProto): void {
  const inits = new Set(m.graph.initializer.map((t) => t.name));
  const first = new Map<string, string>();
  const rename = new Map<string, string>();
  m.graph.node = m.graph.node.filter((n) => {
    if (n.opType !== 'QuantizeLinear' || inits.has(n.input[0])) return true;
    const kept = first.get(n.input[0]!);
    if (!kept) {
      first.set(n.input[0]!, n.output[0]!);
      return true;
    }
    rename.set(n.output[0]!, kept);
    return false;
  });
  for (const n of m.graph.node) n.input = n.input.map((i) => rename.get(i) ?? i);
}

export const VARIANTS: PlacementVariant[] = [
  { name: 'default: int8, Q/DQ per consumer', options: {} },
  { name: 'activations: uint8', options: { activations: 'uint8' } },
  { name: 'int8, one Q per tensor', options: {}, post: shareActivationQuantizers },
  { name: 'uint8, one Q per tensor', options: { activations: 'uint8' }, post: shareActivationQuantizers },
  { name: 'attentionMatMuls: false', options: { attentionMatMuls: false } },
  { name: 'exclude pooler + classifier', options: { excludeNodes: ['pooler', 'classifier'] } },
  { name: 'mode: dynamic', options: { mode: 'dynamic' } },
];

/** The variant's model bytes, its activation scales set from `ranges` (by tensor) as calibrate sets them. */
export function buildVariant(fp32: Uint8Array, v: PlacementVariant, ranges: Map<string, CalibratedRange>): Uint8Array {
  const m = decodeModel(fp32);
  placeQdqForTensorRT(m, { ...DEFAULTS, ...v.options });
  v.post?.(m);
  const slots = findActivationSlots(m);
  applyActivationScales(
    m,
    slots,
    slots.map((s) => {
      const r = ranges.get(s.tensor);
      if (!r) throw new Error(`variant "${v.name}": no calibrated range for ${s.tensor}`);
      return r;
    }),
  );
  return encodeModel(m);
}

/**
 * Medians (ms) of each session on `feeds`: every iteration runs them all, in alternating order, so
 * each sees the same machine state; `warmup` runs each first.
 */
export async function raceMedians(sessions: Map<string, ort.InferenceSession>, feeds: Record<string, ort.Tensor>, iterations: number, warmup = 3): Promise<Map<string, number>> {
  const names = [...sessions.keys()];
  for (let w = 0; w < warmup; w++) for (const n of names) await sessions.get(n)!.run(feeds);
  const times = new Map(names.map((n) => [n, [] as number[]]));
  for (let i = 0; i < iterations; i++) {
    for (const n of i % 2 ? [...names].reverse() : names) {
      const t0 = performance.now();
      await sessions.get(n)!.run(feeds);
      times.get(n)!.push(performance.now() - t0);
    }
  }
  return new Map(names.map((n) => [n, median(times.get(n)!)]));
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
