// Runs batches through an onnxruntime session and hands each fetched activation to a visitor, one
// batch at a time, then frees the batch: the memory of a calibration pass does not grow with the
// number of batches. Shared by calibration (ranges, histograms) and SmoothQuant (channel maxima).
import type ort from 'onnxruntime-node';
import { encodeModel } from '../onnx/model-io.ts';
import { DataType, type ModelProto } from '../onnx/types.ts';
import type { ModelBatch } from '../data/model-batches.ts';

/** The model with `tensors` added as graph outputs (float32), so a session can fetch them. */
export function withActivationOutputs(model: ModelProto, tensors: string[]): Uint8Array {
  const copy: ModelProto = { ...model, graph: { ...model.graph, output: [...model.graph.output] } };
  const existing = new Set(copy.graph.output.map((o) => o.name));
  for (const t of tensors) if (!existing.has(t)) copy.graph.output.push({ name: t, type: { tensorType: { elemType: DataType.FLOAT } } });
  return encodeModel(copy);
}

export async function forEachActivation(
  session: ort.InferenceSession,
  batches: ModelBatch[],
  fetches: string[],
  visit: (index: number, tensor: ort.Tensor) => void,
  opts: { signal?: AbortSignal; onBatch?: (done: number, total: number) => void } = {},
): Promise<void> {
  for (let b = 0; b < batches.length; b++) {
    if (opts.signal?.aborted) throw new Error('interrupted');
    const feeds = batches[b]!.feeds();
    const out = await session.run(feeds, fetches);
    fetches.forEach((name, k) => visit(k, out[name]!));
    for (const t of Object.values(out)) t.dispose?.();
    for (const t of Object.values(feeds)) t.dispose?.();
    opts.onBatch?.(b + 1, batches.length);
  }
}

/** Per-channel (last axis) max |x| of each tensor over every batch: SmoothQuant's statistic. */
export async function channelAbsMax(session: ort.InferenceSession, batches: ModelBatch[], tensors: string[], opts: { signal?: AbortSignal; onBatch?: (done: number, total: number) => void } = {}): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  await forEachActivation(
    session,
    batches,
    tensors,
    (k, t) => {
      const channels = t.dims[t.dims.length - 1] ?? 1;
      let acc = out.get(tensors[k]!);
      if (!acc) out.set(tensors[k]!, (acc = new Float32Array(channels)));
      const data = t.data as Float32Array;
      for (let i = 0; i < data.length; i++) {
        const c = i % channels;
        const a = Math.abs(data[i]!);
        if (a > acc[c]!) acc[c] = a;
      }
    },
    opts,
  );
  return out;
}
