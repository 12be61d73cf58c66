import { describe, expect, it } from 'vitest';
import { cartesian, expandMatrix } from './matrix.ts';
import { parseRecipe } from './load-recipe.ts';

describe('matrix', () => {
  it('expands every combination in axis order', () => {
    expect(cartesian({ a: [1, 2], b: ['x', 'y'] })).toEqual([
      { a: 1, b: 'x' },
      { a: 1, b: 'y' },
      { a: 2, b: 'x' },
      { a: 2, b: 'y' },
    ]);
  });

  it('keeps a whole-expression value typed and interpolates inside strings', () => {
    const r = expandMatrix({ steps: [{ uses: 'x', with: { n: '${{ matrix.n }}', label: 'run-${{matrix.n}}' } }] }, { n: [3] });
    expect(r.ok && r.variants[0]!.raw).toEqual({ steps: [{ uses: 'x', with: { n: 3, label: 'run-3' } }] });
  });

  it('an unknown matrix variable is an error at its line', () => {
    const text = 'name: m\nmatrix:\n  a: [1]\nsteps:\n  - uses: calibrate\n    with:\n      method: ${{ matrix.b }}\n';
    const r = parseRecipe(text, 'm.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors[0]).toMatchObject({ code: 'RECIPE_MATRIX', location: { file: 'm.yaml', line: 7, col: 15 }, hint: 'axes: a' });
  });

  it('gives each variant its own label, values and recipe hash', () => {
    const text = 'name: m\nmatrix:\n  method: [minmax, percentile]\nsteps:\n  - uses: calibrate\n    with:\n      method: ${{ matrix.method }}\n';
    const r = parseRecipe(text, 'm.yaml');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const variants = r.value.matrix!.variants;
    expect(variants.map((v) => v.variant!.label)).toEqual(['method=minmax', 'method=percentile']);
    expect(variants.map((v) => v.steps[0]!.options.method)).toEqual(['minmax', 'percentile']);
    expect(variants[0]!.hash).not.toBe(variants[1]!.hash);
  });
});
