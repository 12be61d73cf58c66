// The shapes bench times, fitted to a model whose graph fixes its input dims. onnxruntime refuses a
// feed of any other size ("Got invalid dimensions for input: input_ids … Got: 32 Expected: 128"), so
// a recipe shape that conflicts with a fixed dim is replaced by the model's own size on that axis
// (free axes keep the recipe's value), duplicates dropped, with a warning that names the model's
// dims and the option to set. Replacing rather than failing: the default shapes are what most
// recipes run with, and a fixed-shape export has exactly one shape worth timing.
import { errors } from '../../src/errors.ts';
import type { FixedInputDims } from '../../src/data/model-batches.ts';

export interface Shape {
  batch: number;
  sequence: number;
}

const show = (s: Shape) => `${s.batch}×${s.sequence}`;

/** Both models' fixed dims as one: an axis fixed in either is fixed; fixed differently, they cannot be compared. */
export function mergeFixedDims(reference: FixedInputDims, candidate: FixedInputDims): FixedInputDims {
  for (const axis of ['batch', 'sequence'] as const) {
    const a = reference[axis];
    const b = candidate[axis];
    if (a !== undefined && b !== undefined && a !== b) {
      throw errors.usage(`bench: the FP32 model fixes the ${axis} at ${a} (${reference.described}) and the INT8 model at ${b} (${candidate.described})`, 'bench compares two models fed the same inputs: quantize the model bench takes as its reference');
    }
  }
  return { batch: reference.batch ?? candidate.batch, sequence: reference.sequence ?? candidate.sequence, described: reference.described };
}

/**
 * `shapes` with each fixed axis set to the model's size. `sequence` is only fixed for token-id inputs;
 * a model fed tensors (images) has its per-sample dims from the data. `warning` says what changed.
 */
export function fitShapes(shapes: Shape[], fixed: FixedInputDims): { shapes: Shape[]; warning?: string } {
  const fit = (s: Shape): Shape => ({ batch: fixed.batch ?? s.batch, sequence: fixed.sequence ?? s.sequence });
  const out: Shape[] = [];
  for (const s of shapes.map(fit)) if (!out.some((o) => o.batch === s.batch && o.sequence === s.sequence)) out.push(s);
  const conflicting = shapes.filter((s) => (fixed.batch !== undefined && s.batch !== fixed.batch) || (fixed.sequence !== undefined && s.sequence !== fixed.sequence));
  if (conflicting.length === 0) return { shapes: out };
  const axes = [fixed.batch !== undefined ? `batch ${fixed.batch}` : '', fixed.sequence !== undefined ? `sequence ${fixed.sequence}` : ''].filter(Boolean).join(' and ');
  const yaml = out.map((s) => `{ batch: ${s.batch}, sequence: ${s.sequence} }`).join(', ');
  return {
    shapes: out,
    warning:
      `the model's inputs are fixed at ${axes} (${fixed.described}): shape${conflicting.length === 1 ? '' : 's'} ${conflicting.map(show).join(', ')} cannot be fed, ` +
      `timing ${out.map(show).join(', ')} instead; set bench's shapes: [${yaml}] in the recipe to time these without this warning`,
  };
}
