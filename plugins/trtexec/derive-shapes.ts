// The optimisation profile when the recipe gives none (or only some points). A step cannot see
// another step's options, so the bench grid comes in as this step's own `benchShapes` option
// (defaulting to the bench step's default grid), and the longest sequence from the model's config:
//   min = batch 1 × sequence 1          (any request the model accepts)
//   opt = the largest of benchShapes    (TensorRT tunes its kernels for this point)
//   max = maxBatchSize × longest sequence of the model
// A point the recipe gives always wins.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchShape, ShapePoint, TrtexecOptions } from './options.ts';

export type ProfilePoint = 'min' | 'opt' | 'max';

export interface ResolvedShapes {
  min: ShapePoint;
  opt: ShapePoint;
  max: ShapePoint;
  /** Where each point came from, for the report and error messages. */
  origin: Record<ProfilePoint, string>;
}

/** Used when no hf-model input says how long the model's sequences may be (BERT-base's 512). */
export const FALLBACK_MAX_SEQUENCE = 512;

export interface MaxSequence {
  length: number;
  from: string;
}

/**
 * The longest sequence the model takes: config.json's max_position_embeddings (n_positions for
 * GPT-2-style configs), capped by tokenizer_config.json's model_max_length where that is a real
 * number (RoBERTa has 514 positions but 512 usable tokens; an unset model_max_length is 1e30).
 */
export async function modelMaxSequence(hfDir: string | undefined): Promise<MaxSequence> {
  if (!hfDir) return { length: FALLBACK_MAX_SEQUENCE, from: `no hf-model input: ${FALLBACK_MAX_SEQUENCE}` };
  const readJson = async (file: string): Promise<Record<string, unknown>> =>
    existsSync(join(hfDir, file)) ? (JSON.parse(await readFile(join(hfDir, file), 'utf8')) as Record<string, unknown>) : {};
  const config = await readJson('config.json');
  const tokenizer = await readJson('tokenizer_config.json');
  const candidates: MaxSequence[] = [];
  for (const key of ['max_position_embeddings', 'n_positions']) {
    const v = config[key];
    if (typeof v === 'number' && v > 0) {
      candidates.push({ length: v, from: `config.json ${key}` });
      break;
    }
  }
  const tokMax = tokenizer.model_max_length;
  if (typeof tokMax === 'number' && tokMax > 0 && tokMax < 1e6) candidates.push({ length: tokMax, from: 'tokenizer_config.json model_max_length' });
  if (candidates.length === 0) return { length: FALLBACK_MAX_SEQUENCE, from: `no length in config.json: ${FALLBACK_MAX_SEQUENCE}` };
  return candidates.reduce((a, b) => (b.length < a.length ? b : a));
}

/** The largest shape by elements (batch × sequence); ties go to the larger batch. */
export function largestShape(shapes: BenchShape[]): BenchShape {
  return shapes.reduce((a, b) => {
    const ea = a.batch * a.sequence;
    const eb = b.batch * b.sequence;
    return eb > ea || (eb === ea && b.batch > a.batch) ? b : a;
  });
}

export function resolveShapes(options: Pick<TrtexecOptions, 'shapes' | 'benchShapes' | 'maxBatchSize'>, maxSequence: MaxSequence): ResolvedShapes {
  const given = options.shapes;
  const largest = largestShape(options.benchShapes);
  return {
    min: given.min ?? { batch: 1, sequence: 1 },
    opt: given.opt ?? { batch: largest.batch, sequence: largest.sequence },
    max: given.max ?? { batch: options.maxBatchSize, sequence: maxSequence.length },
    origin: {
      min: given.min ? 'recipe' : 'derived: batch 1 × sequence 1',
      opt: given.opt ? 'recipe' : `derived: largest of benchShapes (${largest.batch}×${largest.sequence})`,
      max: given.max ? 'recipe' : `derived: maxBatchSize ${options.maxBatchSize} × ${maxSequence.length} (${maxSequence.from})`,
    },
  };
}
