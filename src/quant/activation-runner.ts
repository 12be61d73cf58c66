// Runs batches through an onnxruntime session and hands each fetched activation to a visitor, one
// batch at a time, then frees the batch: the memory of a calibration pass does not grow with the
// number of batches. Shared by calibration (ranges, histograms) and SmoothQuant (channel maxima).
import { open } from 'node:fs/promises';
import type ort from 'onnxruntime-node';
import { decodeModel, encodeModel } from '../onnx/model-io.ts';
import { ModelProtoType } from '../onnx/schema.ts';
import { DataType, type ModelProto } from '../onnx/types.ts';
import type { ModelBatch } from '../data/model-batches.ts';

/** A copy of the model with `tensors` added as graph outputs (float32), so a session can fetch them. */
export function modelWithOutputs(model: ModelProto, tensors: string[]): ModelProto {
  const copy: ModelProto = { ...model, graph: { ...model.graph, output: [...model.graph.output] } };
  const existing = new Set(copy.graph.output.map((o) => o.name));
  for (const t of tensors) if (!existing.has(t)) copy.graph.output.push({ name: t, type: { tensorType: { elemType: DataType.FLOAT } } });
  return copy;
}

/** The model's bytes with `tensors` added as graph outputs (a model whose tensors are all in memory). */
export function withActivationOutputs(model: ModelProto, tensors: string[]): Uint8Array {
  return encodeModel(modelWithOutputs(model, tensors));
}

/**
 * The model file's bytes with `tensors` added as graph outputs, for onnxruntime, without decoding
 * and re-encoding the model: the file is read into a buffer with room for one more `graph` field
 * (ModelProto field 7) that holds only the extra outputs. Protobuf parsers merge repeated occurrences
 * of a message field ("Last one wins" for scalars, MergeFrom for messages:
 * https://protobuf.dev/programming-guides/encoding/#last-one-wins), so onnxruntime sees the graph with
 * the outputs appended. A BERT-base calibration holds one copy of the 440 MB model instead of two,
 * and skips a 0.4 s encode. `model` decodes the file's own bytes (protobufjs would not merge the
 * second graph field, so it must never read the whole buffer).
 */
export async function readModelWithOutputs(file: string, tensors: string[] | Promise<string[]>): Promise<{ bytes: Uint8Array; model: ModelProto }> {
  const handle = await open(file, 'r');
  let buffer: Uint8Array;
  let size: number;
  let room: number;
  try {
    size = (await handle.stat()).size;
    // Room for the extra outputs (a ValueInfoProto is a name plus ~10 bytes each). The names may
    // still be on their way (calibration reads the QDQ model at the same time): then reserve 1 MiB
    // plus 1 % of the model, and copy into a bigger buffer in the rare case that is not enough.
    room = Array.isArray(tensors) ? 16 + tensors.reduce((a, t) => a + Buffer.byteLength(t) + 24, 0) : 2 ** 20 + Math.ceil(size / 100);
    buffer = new Uint8Array(size + room);
    for (let done = 0; done < size; ) {
      const { bytesRead } = await handle.read(buffer, done, size - done, done);
      if (bytesRead === 0) throw new Error(`${file} ended after ${done} of ${size} bytes`);
      done += bytesRead;
    }
  } finally {
    await handle.close();
  }
  const model = decodeModel(buffer.subarray(0, size), file);
  const existing = new Set(model.graph.output.map((o) => o.name));
  const output = (await tensors).filter((t) => !existing.has(t)).map((name) => ({ name, type: { tensorType: { elemType: DataType.FLOAT } } }));
  const extra = ModelProtoType.encode(ModelProtoType.fromObject({ graph: { output } })).finish();
  if (extra.byteLength > room) {
    const bigger = new Uint8Array(size + extra.byteLength);
    bigger.set(buffer.subarray(0, size));
    buffer = bigger;
    return { bytes: appendAt(buffer, size, extra), model: decodeModel(buffer.subarray(0, size), file) };
  }
  return { bytes: appendAt(buffer, size, extra), model };
}

function appendAt(buffer: Uint8Array, at: number, extra: Uint8Array): Uint8Array {
  buffer.set(extra, at);
  return buffer.subarray(0, at + extra.byteLength);
}

/**
 * Runs every batch and visits each fetched tensor, one batch at a time. (Starting batch b + 1 while
 * visiting batch b was measured as no faster on 2 cores: onnxruntime's threads already use both.)
 */
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
    try {
      fetches.forEach((name, k) => visit(k, out[name]!));
    } finally {
      for (const t of Object.values(out)) t.dispose?.();
      for (const t of Object.values(feeds)) t.dispose?.();
    }
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
