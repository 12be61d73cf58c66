// Bench shapes fitted to a model's fixed input dims (the e2e test tests/e2e/fixed-dims.test.ts runs
// a whole recipe on such a model).
import { describe, expect, it } from 'vitest';
import { fitShapes, mergeFixedDims } from './shapes.ts';

const DEFAULTS = [
  { batch: 1, sequence: 32 },
  { batch: 1, sequence: 128 },
  { batch: 8, sequence: 128 },
];

describe('fitShapes', () => {
  it('a model with free dims keeps every shape, silently', () => {
    expect(fitShapes(DEFAULTS, { described: 'input_ids [batch, sequence]' })).toEqual({ shapes: DEFAULTS });
  });

  it('batch 1 × sequence 128 fixed: the default shapes become one, 1×128, and the warning names the dims and the option', () => {
    const r = fitShapes(DEFAULTS, { batch: 1, sequence: 128, described: 'input_ids [1, 128]' });
    expect(r.shapes).toEqual([{ batch: 1, sequence: 128 }]);
    expect(r.warning).toBe(
      "the model's inputs are fixed at batch 1 and sequence 128 (input_ids [1, 128]): shapes 1×32, 8×128 cannot be fed, timing 1×128 instead; " +
        "set bench's shapes: [{ batch: 1, sequence: 128 }] in the recipe to time these without this warning",
    );
  });

  it('only the batch fixed: sequences are kept, batches set', () => {
    const r = fitShapes(DEFAULTS, { batch: 1, described: 'pixel_values [1, 3, 224, 224]' });
    expect(r.shapes).toEqual([
      { batch: 1, sequence: 32 },
      { batch: 1, sequence: 128 },
    ]);
    expect(r.warning).toContain('fixed at batch 1 (pixel_values [1, 3, 224, 224]): shape 8×128 cannot be fed');
  });

  it('shapes that already fit: no warning', () => {
    expect(fitShapes([{ batch: 1, sequence: 128 }], { batch: 1, sequence: 128, described: 'x' })).toEqual({ shapes: [{ batch: 1, sequence: 128 }] });
  });
});

describe('mergeFixedDims', () => {
  it('an axis fixed in either model is fixed; fixed differently is refused', () => {
    expect(mergeFixedDims({ sequence: 128, described: 'a' }, { batch: 1, described: 'b' })).toEqual({ batch: 1, sequence: 128, described: 'a' });
    expect(() => mergeFixedDims({ sequence: 128, described: 'a [1, 128]' }, { sequence: 64, described: 'b [1, 64]' })).toThrow(
      'bench: the FP32 model fixes the sequence at 128 (a [1, 128]) and the INT8 model at 64 (b [1, 64])',
    );
  });
});
