// A model file's structure without its weights: the .onnx is walked field by field with positioned
// reads, and every tensor's raw_data of at least `keepInlineBelow` bytes is skipped over (never read)
// and replaced by a reference to where it lies in the file, in ONNX's own external-data form
// (data_location = EXTERNAL, external_data location/offset/length: docs/ExternalData.md) plus the key
// INLINE_SPAN_KEY that says "these bytes are in the model file itself". What comes back is small
// (nodes, names, small tensors: a few MB for BERT-large's 1.3 GB) and decodes with protobufjs as any
// model does; the bytes a step needs are read later, tensor by tensor (src/runtime/model-file.ts).
//
// Wire format: https://protobuf.dev/programming-guides/encoding/. Which fields lead to a TensorProto
// is taken from the schema's reflection (initializers, Constant/If/Loop attributes, sparse tensors,
// functions, training info), so a tensor anywhere in the model is found.
import type { FileHandle } from 'node:fs/promises';
import protobuf from 'protobufjs';
import { onnxRoot } from './schema.ts';
import type { TensorProto } from './types.ts';

/** external_data key of a skeleton's references to bytes inside the model file itself (never written out). */
export const INLINE_SPAN_KEY = 'qrun.inline';

const TensorType = onnxRoot.lookupType('onnx.TensorProto');
const ModelType = onnxRoot.lookupType('onnx.ModelProto');
const RAW_DATA = TensorType.fields.rawData!.id;
const EXTERNAL_DATA = TensorType.fields.externalData!.id;
const DATA_LOCATION = TensorType.fields.dataLocation!.id;
const EXTERNAL = 1;

/**
 * For each message type that can hold a TensorProto somewhere below it: its fields (by number) whose
 * type can. A fixed point over the types reachable from ModelProto (GraphProto ⊃ NodeProto ⊃
 * AttributeProto ⊃ GraphProto is a cycle, so plain recursion would not end).
 */
function fieldsTowardTensors(): Map<protobuf.Type, Map<number, TowardTensors>> {
  const types = new Set<protobuf.Type>();
  const collect = (t: protobuf.Type) => {
    if (types.has(t)) return;
    types.add(t);
    for (const f of t.fieldsArray) {
      f.resolve();
      if (f.resolvedType instanceof protobuf.Type) collect(f.resolvedType);
    }
  };
  collect(ModelType);
  const reaches = new Set([TensorType]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const t of types) {
      if (reaches.has(t) || !t.fieldsArray.some((f) => f.resolvedType instanceof protobuf.Type && reaches.has(f.resolvedType))) continue;
      reaches.add(t);
      grew = true;
    }
  }
  const out = new Map<protobuf.Type, Map<number, TowardTensors>>();
  for (const t of reaches) {
    const fields = new Map<number, TowardTensors>();
    for (const f of t.fieldsArray) if (f.resolvedType instanceof protobuf.Type && reaches.has(f.resolvedType)) fields.set(f.id, { name: f.name, type: f.resolvedType });
    out.set(t, fields);
  }
  return out;
}
interface TowardTensors {
  /** The field's name in decoded messages (protobufjs's camelCase). */
  name: string;
  type: protobuf.Type;
}
const descend = fieldsTowardTensors();

/**
 * Visits every TensorProto of a decoded model: initializers, sparse initializers, tensors in node
 * attributes (Constant values, If/Loop/Scan subgraphs and their initializers), functions and training
 * info: every place ONNX lets a tensor hold data.
 */
export function forEachTensor(model: object, visit: (t: TensorProto) => void): void {
  const walk = (m: Record<string, unknown>, type: protobuf.Type) => {
    if (type === TensorType) return visit(m as unknown as TensorProto);
    for (const { name, type: child } of descend.get(type)!.values()) {
      const v = m[name];
      if (Array.isArray(v)) for (const x of v) walk(x as Record<string, unknown>, child);
      else if (v && typeof v === 'object') walk(v as Record<string, unknown>, child);
    }
  };
  walk(model as Record<string, unknown>, ModelType);
}

/**
 * A copy of the model with every TensorProto replaced by `f(t)`. Only the messages on the way to a
 * replaced tensor are copied (shallow; the caller's model is not changed), the rest is shared. The
 * copies hold the decoded messages' own fields, which is all an encoder writes.
 */
export function mapTensors<M extends object>(model: M, f: (t: TensorProto) => TensorProto): M {
  const walk = (m: Record<string, unknown>, type: protobuf.Type): Record<string, unknown> => {
    if (type === TensorType) return f(m as unknown as TensorProto) as unknown as Record<string, unknown>;
    let copy: Record<string, unknown> | undefined;
    for (const { name, type: child } of descend.get(type)!.values()) {
      const v = m[name];
      if (Array.isArray(v)) {
        const mapped = v.map((x) => walk(x as Record<string, unknown>, child));
        if (mapped.some((x, i) => x !== v[i])) (copy ??= { ...m })[name] = mapped;
      } else if (v && typeof v === 'object') {
        const w = walk(v as Record<string, unknown>, child);
        if (w !== v) (copy ??= { ...m })[name] = w;
      }
    }
    return copy ?? m;
  };
  return walk(model as Record<string, unknown>, ModelType) as unknown as M;
}

const WINDOW = 1 << 16;

/** Reads a file at positions through a 64 KiB window (or a field's length); skipping forward costs nothing. */
class PositionedReader {
  private buf = Buffer.alloc(0);
  private start = 0;
  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    private readonly file: string,
  ) {}

  /** The file's bytes [pos, pos + n) as a view valid until the next call. */
  async view(pos: number, n: number): Promise<Buffer> {
    if (pos + n > this.size) throw new Error(`${this.file} ends at byte ${this.size}, inside a field that needs ${pos + n}`);
    if (pos < this.start || pos + n > this.start + this.buf.length) {
      const length = Math.min(Math.max(n, WINDOW), this.size - pos);
      const buf = Buffer.allocUnsafe(length);
      for (let done = 0; done < length; ) {
        const { bytesRead } = await this.handle.read(buf, done, length - done, pos + done);
        if (bytesRead === 0) throw new Error(`${this.file} ended at byte ${pos + done} while it was read`);
        done += bytesRead;
      }
      this.buf = buf;
      this.start = pos;
    }
    return this.buf.subarray(pos - this.start, pos - this.start + n);
  }

  /** A varint at `pos`: its value and the position after it. */
  async varint(pos: number): Promise<[value: number, next: number]> {
    const b = await this.view(pos, Math.min(10, this.size - pos));
    let value = 0;
    let scale = 1;
    for (let i = 0; i < b.length; i++) {
      value += (b[i]! & 127) * scale;
      if (b[i]! < 128) return [value, pos + i + 1];
      scale *= 128;
    }
    throw new Error(`${this.file}: a varint at byte ${pos} does not end`);
  }
}

function varint(n: number): Uint8Array {
  const out: number[] = [];
  while (n > 127) {
    out.push((n % 128) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Uint8Array.from(out);
}

const tag = (field: number, wire: number) => varint(field * 8 + wire);

function lengthDelimited(field: number, parts: Uint8Array[]): Uint8Array[] {
  const size = parts.reduce((a, p) => a + p.byteLength, 0);
  return [tag(field, 2), varint(size), ...parts];
}

function entry(key: string, value: string): Uint8Array[] {
  return lengthDelimited(EXTERNAL_DATA, [...lengthDelimited(1, [Buffer.from(key)]), ...lengthDelimited(2, [Buffer.from(value)])]);
}

export interface ModelSkeleton {
  /** A ModelProto's bytes: the file's, with large raw_data replaced by references into the file. */
  bytes: Uint8Array;
  /** Tensors whose inline bytes were left in the file. */
  spans: number;
}

/**
 * The skeleton of the model in `handle` (a file of `size` bytes; `location` is its name as a
 * reference from its own folder, i.e. its base name): every TensorProto whose raw_data has at least
 * `keepInlineBelow` bytes gets, instead, data_location EXTERNAL and external_data
 * {location, offset, length, qrun.inline: "1"} pointing at those bytes in this file.
 */
export async function readModelSkeleton(handle: FileHandle, size: number, file: string, location: string, keepInlineBelow: number): Promise<ModelSkeleton> {
  const reader = new PositionedReader(handle, size, file);
  let spans = 0;

  const message = async (type: protobuf.Type, start: number, end: number): Promise<Uint8Array[]> => {
    const fields = descend.get(type);
    const parts: Uint8Array[] = [];
    const tail: Uint8Array[] = [];
    // Fields copied as they are, gathered into runs so a run is one copy.
    let run = start;
    const flush = async (upTo: number) => {
      if (upTo > run) parts.push(Buffer.from(await reader.view(run, upTo - run)));
    };
    let pos = start;
    while (pos < end) {
      const fieldStart = pos;
      const [key, afterTag] = await reader.varint(pos);
      const field = Math.floor(key / 8);
      const wire = key % 8;
      if (wire === 0) pos = (await reader.varint(afterTag))[1];
      else if (wire === 1) pos = afterTag + 8;
      else if (wire === 5) pos = afterTag + 4;
      else if (wire === 2) {
        const [length, content] = await reader.varint(afterTag);
        pos = content + length;
        if (pos > end) throw new Error(`${file}: field ${field} at byte ${fieldStart} runs past the end of its message`);
        const child = fields?.get(field)?.type;
        if (type === TensorType && field === RAW_DATA && length >= keepInlineBelow) {
          // The bytes stay in the file: a reference instead, after the tensor's other fields.
          await flush(fieldStart);
          run = pos;
          tail.push(...entry('location', location), ...entry('offset', String(content)), ...entry('length', String(length)), ...entry(INLINE_SPAN_KEY, '1'));
          tail.push(tag(DATA_LOCATION, 0), varint(EXTERNAL));
          spans++;
        } else if (child) {
          await flush(fieldStart);
          parts.push(...lengthDelimited(field, await message(child, content, pos)));
          run = pos;
        }
      } else throw new Error(`${file}: wire type ${wire} (field ${field}) at byte ${fieldStart} is not used by ONNX`);
      if (pos > end) throw new Error(`${file}: field ${field} at byte ${fieldStart} runs past the end of its message`);
    }
    await flush(end);
    return [...parts, ...tail];
  };

  const parts = await message(ModelType, 0, size);
  return { bytes: Buffer.concat(parts), spans };
}
