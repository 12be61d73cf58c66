// A two-pass protobuf encoder (sizes first, then one write into a buffer of the exact length),
// driven by protobufjs's reflection of the ONNX schema. It writes the same bytes as protobufjs's
// generated encoder — fields by number, the same presence rules, unknown fields kept — but copies
// each raw_data once instead of through protobufjs's growing Writer, which took ~4.5 s and three
// copies of the weights for a 440 MB BERT-base (see docs/performance.md). Tested byte-for-byte
// against protobufjs on every model in the repository.
// Wire format: https://protobuf.dev/programming-guides/encoding/
import protobuf from 'protobufjs';

type Msg = Record<string, unknown>;

interface FieldPlan {
  id: number;
  name: string;
  type: string;
  repeated: boolean;
  packed: boolean;
  /** protobuf wire type for scalars; undefined for messages. */
  wire: number | undefined;
  message?: protobuf.Type;
  isEnum: boolean;
  hasPresence: boolean;
  required: boolean;
  typeDefault: unknown;
}

const WIRE: Record<string, number> = {
  double: 1, float: 5, int32: 0, uint32: 0, sint32: 0, fixed32: 5, sfixed32: 5,
  int64: 0, uint64: 0, sint64: 0, fixed64: 1, sfixed64: 1, bool: 0, string: 2, bytes: 2,
};
const LONG = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

const plans = new Map<protobuf.Type, FieldPlan[]>();

function planOf(type: protobuf.Type): FieldPlan[] {
  let plan = plans.get(type);
  if (plan) return plan;
  plan = [...type.fieldsArray]
    .sort((a, b) => a.id - b.id)
    .map((f) => {
      f.resolve();
      const isEnum = f.resolvedType instanceof protobuf.Enum;
      const t = isEnum ? 'int32' : f.type;
      if (f.map) throw new Error(`map fields are not supported by the fast encoder (${type.name}.${f.name})`);
      if ((f as unknown as { delimited?: boolean }).delimited) throw new Error(`group fields are not supported (${type.name}.${f.name})`);
      return {
        id: f.id,
        name: f.name,
        type: t,
        repeated: f.repeated,
        packed: f.repeated && f.packed && WIRE[t] !== undefined && WIRE[t] !== 2,
        wire: WIRE[t],
        message: !isEnum && f.resolvedType instanceof protobuf.Type ? f.resolvedType : undefined,
        isEnum,
        hasPresence: (f as unknown as { hasPresence?: boolean }).hasPresence ?? true,
        required: f.required,
        typeDefault: f.typeDefault,
      };
    });
  plans.set(type, plan);
  return plan;
}

const own = (m: Msg, k: string) => m[k] != null && Object.prototype.hasOwnProperty.call(m, k);

/** protobufjs's rule for whether a singular field is written. */
function present(m: Msg, f: FieldPlan): boolean {
  if (f.required) return true;
  if (!own(m, f.name)) return false;
  if (f.hasPresence || f.wire === undefined) return true;
  const v = m[f.name];
  if (f.isEnum) return v !== f.typeDefault;
  if (f.type === 'bool') return v !== false;
  if (f.type === 'string') return v !== '';
  if (f.type === 'bytes') return (v as { length: number }).length > 0;
  if (f.type === 'double' || f.type === 'float') return !Object.is(v, 0);
  if (LONG.has(f.type)) return typeof v === 'object' ? Boolean((v as { low: number; high: number }).low || (v as { high: number }).high) : v !== 0;
  return v !== 0;
}

// ---- 64-bit values as (lo, hi) unsigned 32-bit halves -------------------------------------------

function bits64(v: unknown): [number, number] {
  if (typeof v === 'object' && v !== null && 'low' in v) {
    const l = v as { low: number; high: number };
    return [l.low >>> 0, l.high >>> 0];
  }
  if (typeof v === 'string') v = Number(v);
  if (typeof v === 'bigint') return [Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn)];
  const n = v as number;
  if (n === 0) return [0, 0];
  const sign = n < 0;
  let abs = Math.abs(n);
  let lo = abs >>> 0;
  let hi = ((abs - lo) / 4294967296) >>> 0;
  if (sign) {
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
    if (++lo > 4294967295) {
      lo = 0;
      if (++hi > 4294967295) hi = 0;
    }
  }
  abs = 0;
  return [lo, hi];
}

function zigzag64([lo, hi]: [number, number]): [number, number] {
  const mask = hi >> 31;
  return [((lo << 1) ^ mask) >>> 0, (((hi << 1) | (lo >>> 31)) ^ mask) >>> 0];
}

function varint64Size(lo: number, hi: number): number {
  const part0 = lo;
  const part1 = ((lo >>> 28) | (hi << 4)) >>> 0;
  const part2 = hi >>> 24;
  return part2 === 0
    ? part1 === 0
      ? part0 < 16384 ? (part0 < 128 ? 1 : 2) : part0 < 2097152 ? 3 : 4
      : part1 < 16384 ? (part1 < 128 ? 5 : 6) : part1 < 2097152 ? 7 : 8
    : part2 < 128 ? 9 : 10;
}

const varint32Size = (v: number) => (v >>>= 0) < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : v < 268435456 ? 4 : 5;

function scalarSize(type: string, v: unknown): number {
  switch (type) {
    case 'double':
    case 'fixed64':
    case 'sfixed64':
      return 8;
    case 'float':
    case 'fixed32':
    case 'sfixed32':
      return 4;
    case 'bool':
      return 1;
    case 'uint32':
      return varint32Size(v as number);
    case 'int32':
      return (v as number) < 0 ? 10 : varint32Size(v as number);
    case 'sint32':
      return varint32Size((((v as number) << 1) ^ ((v as number) >> 31)) >>> 0);
    case 'int64':
    case 'uint64':
      return varint64Size(...bits64(v));
    case 'sint64':
      return varint64Size(...zigzag64(bits64(v)));
    case 'string': {
      const n = Buffer.byteLength(v as string, 'utf8');
      return varint32Size(n) + n;
    }
    case 'bytes': {
      const n = typeof v === 'string' ? Buffer.byteLength(v, 'base64') : (v as Uint8Array).length;
      return varint32Size(n) + n;
    }
    default:
      throw new Error(`unknown scalar type ${type}`);
  }
}

/** Payload sizes of nested messages, computed once in the size pass and reused by the write pass. */
type Sizes = Map<object, number>;

/** A chunked encode's bytes values that are written as their own chunks, and how many bytes they hold. */
interface Passed {
  min: number;
  bytes: number;
}

/** Whether a bytes value goes out as its own chunk: at least `min` bytes, or bytes held elsewhere (not in memory). */
const passedThrough = (v: unknown, passed: Passed | undefined): boolean =>
  passed !== undefined && typeof v !== 'string' && (!(v instanceof Uint8Array) || v.byteLength >= passed.min);

function messageSize(m: Msg, type: protobuf.Type, sizes: Sizes, passed?: Passed): number {
  let total = 0;
  for (const f of planOf(type)) {
    const v = m[f.name];
    if (f.repeated) {
      if (v == null || !(v as unknown[]).length) continue;
      const arr = v as unknown[];
      if (f.packed) {
        let n = 0;
        for (const x of arr) n += scalarSize(f.type, x);
        sizes.set(arr, n);
        total += varint32Size((f.id << 3) | 2) + varint32Size(n) + n;
      } else {
        const tag = varint32Size((f.id << 3) | (f.wire ?? 2));
        for (const x of arr) {
          if (f.message) {
            const n = messageSize(x as Msg, f.message, sizes, passed);
            total += tag + varint32Size(n) + n;
          } else {
            total += tag + scalarSize(f.type, x);
            if (f.type === 'bytes' && passedThrough(x, passed)) passed!.bytes += (x as { length: number }).length;
          }
        }
      }
      continue;
    }
    if (!present(m, f)) continue;
    const tag = varint32Size((f.id << 3) | (f.wire ?? 2));
    if (f.message) {
      const n = messageSize(v as Msg, f.message, sizes, passed);
      total += tag + varint32Size(n) + n;
    } else {
      total += tag + scalarSize(f.type, v);
      if (f.type === 'bytes' && passedThrough(v, passed)) passed!.bytes += (v as { length: number }).length;
    }
  }
  const unknowns = own(m, '$unknowns') ? (m.$unknowns as Uint8Array[]) : undefined;
  if (unknowns) for (const u of unknowns) total += u.length;
  sizes.set(m, total);
  return total;
}

class ExactWriter {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint32(v: number): void {
    v >>>= 0;
    while (v > 127) {
      this.buf[this.pos++] = (v & 127) | 128;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  varint64(lo: number, hi: number): void {
    while (hi) {
      this.buf[this.pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo > 127) {
      this.buf[this.pos++] = (lo & 127) | 128;
      lo >>>= 7;
    }
    this.buf[this.pos++] = lo;
  }

  bytes(b: Uint8Array): void {
    this.varint32(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  scalar(type: string, v: unknown): void {
    const b = this.buf;
    switch (type) {
      case 'double':
        b.writeDoubleLE(v as number, this.pos);
        this.pos += 8;
        return;
      case 'float':
        b.writeFloatLE(v as number, this.pos);
        this.pos += 4;
        return;
      case 'fixed32':
        b.writeUInt32LE((v as number) >>> 0, this.pos);
        this.pos += 4;
        return;
      case 'sfixed32':
        b.writeInt32LE(v as number, this.pos);
        this.pos += 4;
        return;
      case 'fixed64':
      case 'sfixed64': {
        const [lo, hi] = bits64(v);
        b.writeUInt32LE(lo, this.pos);
        b.writeUInt32LE(hi, this.pos + 4);
        this.pos += 8;
        return;
      }
      case 'bool':
        b[this.pos++] = v ? 1 : 0;
        return;
      case 'uint32':
        this.varint32(v as number);
        return;
      case 'int32':
        if ((v as number) < 0) this.varint64(...bits64(v));
        else this.varint32(v as number);
        return;
      case 'sint32':
        this.varint32((((v as number) << 1) ^ ((v as number) >> 31)) >>> 0);
        return;
      case 'int64':
      case 'uint64':
        this.varint64(...bits64(v));
        return;
      case 'sint64':
        this.varint64(...zigzag64(bits64(v)));
        return;
      case 'string': {
        const n = Buffer.byteLength(v as string, 'utf8');
        this.varint32(n);
        this.pos += b.write(v as string, this.pos, n, 'utf8');
        return;
      }
      case 'bytes':
        this.bytes(typeof v === 'string' ? Buffer.from(v, 'base64') : (v as Uint8Array));
        return;
      default:
        throw new Error(`unknown scalar type ${type}`);
    }
  }

  message(m: Msg, type: protobuf.Type, sizes: Sizes): void {
    for (const f of planOf(type)) {
      const v = m[f.name];
      if (f.repeated) {
        if (v == null || !(v as unknown[]).length) continue;
        const arr = v as unknown[];
        if (f.packed) {
          this.varint32((f.id << 3) | 2);
          this.varint32(sizes.get(arr)!);
          for (const x of arr) this.scalar(f.type, x);
        } else {
          for (const x of arr) {
            this.varint32((f.id << 3) | (f.wire ?? 2));
            if (f.message) {
              this.varint32(sizes.get(x as object)!);
              this.message(x as Msg, f.message, sizes);
            } else this.scalar(f.type, x);
          }
        }
        continue;
      }
      if (!present(m, f)) continue;
      this.varint32((f.id << 3) | (f.wire ?? 2));
      if (f.message) {
        this.varint32(sizes.get(v as object)!);
        this.message(v as Msg, f.message, sizes);
      } else this.scalar(f.type, v);
    }
    const unknowns = own(m, '$unknowns') ? (m.$unknowns as Uint8Array[]) : undefined;
    if (unknowns) {
      for (const u of unknowns) {
        this.buf.set(u, this.pos);
        this.pos += u.length;
      }
    }
  }
}

/**
 * Writes the structure into one buffer and hands large bytes values out as they are: the encoding is
 * the concatenation of `chunks`, where a bytes value of at least `min` bytes (or one that is not in
 * memory at all, such as a span of another file) is its own chunk, never copied.
 */
class ChunkWriter extends ExactWriter {
  readonly chunks: (Uint8Array | object)[] = [];
  private from = 0;
  constructor(
    buf: Buffer,
    private readonly passed: Passed,
  ) {
    super(buf);
  }

  override bytes(b: Uint8Array): void {
    if (!passedThrough(b, this.passed)) return super.bytes(b);
    this.varint32(b.length);
    this.chunks.push(this.buf.subarray(this.from, this.pos), b);
    this.from = this.pos;
  }

  finish(): (Uint8Array | object)[] {
    this.chunks.push(this.buf.subarray(this.from, this.pos));
    return this.chunks.filter((c) => !(c instanceof Uint8Array) || c.byteLength > 0);
  }
}

/**
 * Encodes `message` of `type` as a list of chunks whose concatenation is exactly encodeExact's bytes:
 * bytes values of at least `min` bytes, and values that are not a Uint8Array (bytes held elsewhere,
 * with a `length`, which the caller writes), are chunks of their own; everything else is in one
 * buffer. A model is written to a file this way without a second copy of its weights in memory.
 */
export function encodeChunks(message: Msg, type: protobuf.Type, min: number): (Uint8Array | object)[] {
  const sizes: Sizes = new Map();
  const passed: Passed = { min, bytes: 0 };
  const size = messageSize(message, type, sizes, passed);
  const w = new ChunkWriter(Buffer.allocUnsafe(size - passed.bytes), passed);
  w.message(message, type, sizes);
  if (w.pos !== size - passed.bytes) throw new Error(`chunked encoder wrote ${w.pos} bytes of structure, expected ${size - passed.bytes}; this is a bug in qrun`);
  return w.finish();
}

/** Encodes `message` of `type` into one exactly sized buffer. */
export function encodeExact(message: Msg, type: protobuf.Type): Uint8Array {
  const sizes: Sizes = new Map();
  const size = messageSize(message, type, sizes);
  const w = new ExactWriter(Buffer.allocUnsafe(size));
  w.message(message, type, sizes);
  if (w.pos !== size) throw new Error(`fast encoder wrote ${w.pos} bytes, expected ${size}; this is a bug in qrun`);
  return w.buf;
}
