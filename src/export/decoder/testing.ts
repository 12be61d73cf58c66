// For the decoder exporter's tests: runs an exported graph through onnxruntime-node with the cache
// fed back by hand (prefill, then one token per step), left-pads batches as transformers does, and
// a weight source whose biases and norm weights are random too, so that a mis-wired bias or norm
// cannot hide behind zeros and ones. Kept apart from src/tasks/text-generation's decode loop so the
// exporter is checked by code that does not share its assumptions.
import ort from 'onnxruntime-node';
import { seededNormal } from '../seeded-normal.ts';
import type { WeightInit, WeightSource } from '../weight-source.ts';
import type { DecoderConfig } from './decoder-config.ts';

const int64 = (values: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), dims);

/** Past key/value tensors by input name (past_key_values.{i}.key …). */
export type Cache = Record<string, ort.Tensor>;

export interface StepResult {
  /** [batch, sequence, vocab], flat. */
  logits: Float32Array;
  vocab: number;
  sequence: number;
  /** present.{i}.* renamed to the past_key_values.{i}.* they feed next. */
  cache: Cache;
}

export function emptyCache(cfg: DecoderConfig, batch: number): Cache {
  const cache: Cache = {};
  for (let i = 0; i < cfg.layers; i++) {
    for (const kind of ['key', 'value']) cache[`past_key_values.${i}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [batch, cfg.kvHeads, 0, cfg.headDim]);
  }
  return cache;
}

/**
 * One call: `ids` [batch][sequence] (already padded), `mask` [batch][past + sequence],
 * `positions` [batch][sequence].
 */
export async function step(session: ort.InferenceSession, cfg: DecoderConfig, ids: number[][], mask: number[][], positions: number[][], cache: Cache): Promise<StepResult> {
  const batch = ids.length;
  const sequence = ids[0]!.length;
  const out = await session.run({
    input_ids: int64(ids.flat(), [batch, sequence]),
    attention_mask: int64(mask.flat(), [batch, mask[0]!.length]),
    position_ids: int64(positions.flat(), [batch, sequence]),
    ...cache,
  });
  const next: Cache = {};
  for (let i = 0; i < cfg.layers; i++) {
    for (const kind of ['key', 'value']) next[`past_key_values.${i}.${kind}`] = out[`present.${i}.${kind}`]!;
  }
  return { logits: out.logits!.data as Float32Array, vocab: cfg.vocabSize, sequence, cache: next };
}

/** Row `r`, position `t` of a step's logits. */
export function logitsAt(result: StepResult, r: number, t: number): Float32Array {
  const start = (r * result.sequence + t) * result.vocab;
  return result.logits.subarray(start, start + result.vocab);
}

/** Left padding as transformers builds it: mask 0 on pads, position_ids = cumsum(mask) − 1 with pads set to 1. */
export function leftPad(rows: number[][], padId: number): { ids: number[][]; mask: number[][]; positions: number[][] } {
  const width = Math.max(...rows.map((r) => r.length));
  const ids = rows.map((r) => [...Array<number>(width - r.length).fill(padId), ...r]);
  const mask = rows.map((r) => [...Array<number>(width - r.length).fill(0), ...Array<number>(r.length).fill(1)]);
  const positions = mask.map((m) => {
    let seen = 0;
    return m.map((v) => (v ? seen++ : 1));
  });
  return { ids, mask, positions };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/**
 * Every tensor normal(0, std), biases and norm weights included (norm weights around 1), seeded by
 * name: a graph that drops a bias or applies a norm weight to the wrong tensor gives other numbers.
 */
export class AllRandomWeights implements WeightSource {
  constructor(
    private readonly seed: number,
    private readonly std: number,
  ) {}

  get description(): string {
    return `random weights, biases and norms included (seed ${this.seed})`;
  }

  async tensor(name: string, shape: number[], init: WeightInit): Promise<Float32Array> {
    const values = seededNormal(this.seed, name, shape.reduce((a, b) => a * b, 1), this.std);
    if (init === 'ones') for (let i = 0; i < values.length; i++) values[i] = 1 + 5 * values[i]!;
    return values;
  }

  async transposed(name: string, shape: [number, number], init: WeightInit): Promise<Float32Array> {
    return this.tensor(name, [shape[1], shape[0]], init);
  }
}
