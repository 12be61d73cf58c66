// Gate conditions are parsed strictly: ">= 0..99" once parsed as a comparison with NaN, a gate that
// could never pass and said so only after the whole run.
import { describe, expect, it } from 'vitest';
import { gateHolds, parseGateCondition } from './gate-condition.ts';
import { parseRecipe } from './load-recipe.ts';

const FILE = '/recipes/gates.yaml';

describe('parseGateCondition', () => {
  it.each([
    ['>= 0.99', '>=', 0.99],
    ['  >0.5 ', '>', 0.5],
    ['<= 1e-3', '<=', 0.001],
    ['< -2', '<', -2],
    ['== 0', '==', 0],
    ['!= 3', '!=', 3],
    ['>= .5', '>=', 0.5],
    ['>= 99.5%', '>=', 0.995],
    ['>= 99.5 %', '>=', 0.995],
  ])('%s → %s %s', (text, op, value) => {
    expect(parseGateCondition(text)).toEqual({ ok: true, op, value, percent: text.includes('%') });
  });

  it.each([
    ['>= 0..99', '"0..99" is not a number'],
    ['>= 0.99.1', '"0.99.1" is not a number'],
    ['>=', '"" is not a number'],
    ['>= NaN', '"NaN" is not a number'],
    ['>= Infinity', '"Infinity" is not a number'],
    ['>= 1e999', '"1e999" is not a finite number'],
    ['about 3', 'it does not start with an operator (>=, >, <=, <, ==, !=)'],
    ['=> 0.9', '"=>" is not an operator; use one of >=, >, <=, <, ==, !='],
    ['= 0.9', '"=" is not an operator; use one of >=, >, <=, <, ==, !='],
    ['≥ 0.9', '"≥" is not an operator; use one of >=, >, <=, <, ==, !='],
    ['>= 0.9 and < 1', '"0.9 and < 1" is not a number'],
  ])('%s is refused: %s', (text, reason) => {
    expect(parseGateCondition(text)).toEqual({ ok: false, reason });
  });

  it('a condition that is not a string is refused', () => {
    expect(parseGateCondition(0.99)).toEqual({ ok: false, reason: 'a condition is a string such as ">= 0.99", got 0.99' });
  });

  it('each operator compares as it reads', () => {
    expect([gateHolds('>=', 1, 1), gateHolds('>', 1, 1), gateHolds('<=', 1, 1), gateHolds('<', 0, 1), gateHolds('==', 1, 1), gateHolds('!=', 1, 1)]).toEqual([true, false, true, true, true, false]);
  });
});

describe('gates in a recipe', () => {
  const gatesOf = (cond: string) => parseRecipe(`name: x\nsteps:\n  - uses: bench\ngates:\n  bench.agreement: "${cond}"\n`, FILE);

  it('">= 0..99" is an error at the condition, naming what is wrong and how to write one', () => {
    const r = gatesOf('>= 0..99');
    expect(r.ok).toBe(false);
    const errors = r.ok ? [] : r.errors;
    expect(errors).toEqual([
      {
        code: 'RECIPE_GATE',
        message: 'gates.bench.agreement: ">= 0..99" is not a condition: "0..99" is not a number',
        location: { file: FILE, line: 5, col: 20 },
        hint: 'write an operator and a number, e.g. ">= 0.99" (or ">= 99%" for a ratio)',
      },
    ]);
  });

  it('a percentage is read as a fraction, and the gate remembers it was written as one', () => {
    const r = gatesOf('>= 99.5%');
    expect(r.ok && r.value.gates).toEqual([{ metric: 'bench.agreement', op: '>=', value: 0.995, percent: true, location: { file: FILE, line: 5, col: 3 } }]);
  });

  it('a gate on a misspelt step id suggests the step', () => {
    const r = parseRecipe('name: x\nsteps:\n  - uses: bench\ngates:\n  bnech.agreement: ">= 0.99"\n', FILE);
    expect(r.ok ? undefined : r.errors[0]!.hint).toBe('did you mean "bench"? steps: bench');
  });
});
