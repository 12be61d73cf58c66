// Where the exporter's weights come from: a safetensors checkpoint, or seeded random values of the
// same shapes (a model of the right size for benchmarks, with no checkpoint). Family code asks for
// tensors by their transformers names (`bert.encoder.layer.0.attention.self.query.weight`) and
// the shape config.json implies; the source checks the shape or makes one of that shape.
import type { Checkpoint } from '../safetensors/checkpoint.ts';
import { safetensorsErrors } from '../safetensors/errors.ts';
import { seededNormalParallel } from './seeded-normal.ts';

/**
 * How transformers initialises the tensor (`_init_weights` in modeling_bert.py): Linear and
 * Embedding weights normal(0, initializer_range) with the padding row of an embedding zeroed,
 * biases zero, LayerNorm weight one.
 */
export type WeightInit = { normal: true; paddingRow?: number } | 'zeros' | 'ones';

export interface WeightSource {
  /** For messages: the checkpoint file, or "random weights (seed N)". */
  readonly description: string;
  tensor(name: string, shape: number[], init: WeightInit): Promise<Float32Array>;
  /**
   * The 2-D tensor `name` of `shape` [rows, cols] (PyTorch's Linear [out, in]) laid out as
   * [cols, rows], the [in, out] a MatMul reads.
   */
  transposed(name: string, shape: [number, number], init: WeightInit): Promise<Float32Array>;
}

/**
 * Prefixes transformers puts before the base model's tensors in a *For… head model (base_model_prefix);
 * `transformer.` (GPT-2) and `model.` (Llama family) for the decoders: openai-community/gpt2's
 * checkpoint, saved from GPT2Model, names its tensors `h.0.attn.c_attn.weight`.
 */
const BASE_PREFIXES = ['bert.', 'roberta.', 'distilbert.', 'electra.', 'transformer.', 'model.'];

/**
 * Names to try for `name`: itself; without its base prefix (a checkpoint saved from BertModel has
 * no `bert.`); and TF-era LayerNorm names (`gamma`/`beta`, which transformers still renames on load,
 * modeling_utils.py `_fix_key`).
 */
export function candidateNames(name: string): string[] {
  const names = [name];
  const prefix = BASE_PREFIXES.find((p) => name.startsWith(p));
  if (prefix) names.push(name.slice(prefix.length));
  for (const n of [...names]) {
    if (/LayerNorm\.weight$/.test(n)) names.push(n.replace(/weight$/, 'gamma'));
    if (/LayerNorm\.bias$/.test(n)) names.push(n.replace(/bias$/, 'beta'));
  }
  return names;
}

export class CheckpointWeights implements WeightSource {
  constructor(private readonly checkpoint: Checkpoint) {}

  get description(): string {
    return this.checkpoint.source;
  }

  async tensor(name: string, shape: number[]): Promise<Float32Array> {
    const tried = candidateNames(name);
    const found = tried.find((n) => this.checkpoint.info(n));
    if (!found) throw safetensorsErrors.tensorMissing(this.checkpoint.source, name, tried);
    const actual = this.checkpoint.info(found)!.shape;
    if (actual.length !== shape.length || actual.some((d, i) => d !== shape[i])) {
      throw safetensorsErrors.shapeMismatch(this.checkpoint.source, found, shape, actual);
    }
    return this.checkpoint.readFloat32(found);
  }

  async transposed(name: string, shape: [number, number]): Promise<Float32Array> {
    return transpose2d(await this.tensor(name, shape), shape[0], shape[1]);
  }
}

export class RandomWeights implements WeightSource {
  constructor(
    private readonly seed: number,
    private readonly std: number,
  ) {}

  get description(): string {
    return `random weights (seed ${this.seed})`;
  }

  async tensor(name: string, shape: number[], init: WeightInit): Promise<Float32Array> {
    const count = shape.reduce((a, b) => a * b, 1);
    if (init === 'zeros') return new Float32Array(count);
    if (init === 'ones') return new Float32Array(count).fill(1);
    // seededNormal's values, made by this thread and a worker together (src/export/seeded-normal.ts).
    const values = await seededNormalParallel(this.seed, name, count, this.std);
    if (init.paddingRow !== undefined && shape.length === 2 && init.paddingRow < shape[0]!) {
      values.fill(0, init.paddingRow * shape[1]!, (init.paddingRow + 1) * shape[1]!);
    }
    return values;
  }

  /**
   * Random values are independent and identically distributed, so any layout is the same
   * distribution: generated directly as [cols, rows] (no transpose of BERT-base's 85 M weights).
   */
  transposed(name: string, shape: [number, number], init: WeightInit): Promise<Float32Array> {
    return this.tensor(name, [shape[1], shape[0]], init);
  }
}

/**
 * [rows, cols] → [cols, rows], in 64 × 64 tiles so reads and writes both stay within a few cache
 * lines (the plain double loop writes with a stride of `rows` floats).
 */
export function transpose2d(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  const tile = 64;
  for (let r0 = 0; r0 < rows; r0 += tile) {
    const r1 = Math.min(rows, r0 + tile);
    for (let c0 = 0; c0 < cols; c0 += tile) {
      const c1 = Math.min(cols, c0 + tile);
      for (let r = r0; r < r1; r++) {
        const from = r * cols;
        for (let c = c0; c < c1; c++) out[c * rows + r] = values[from + c]!;
      }
    }
  }
  return out;
}
