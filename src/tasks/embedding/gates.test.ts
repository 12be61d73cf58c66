// The embedding metrics are declared (nested under bench's `embedding`), so a recipe's gates on them
// are checked before anything runs, as every declared metric is: a misspelt one gets the closest
// name, the object itself is not a number, a percentage fits the ratio recall@10.
import { describe, expect, it } from 'vitest';
import bench from '../../../plugins/bench/index.ts';
import { checkGates } from '../../engine/metrics.ts';
import type { Gate } from '../../recipe/recipe.ts';

const at = { file: 'recipe.yaml', line: 9, col: 3 };
const gate = (metric: string, percent = false): Gate => ({ metric, op: '>=', value: 0.95, ...(percent ? { percent } : {}), location: at });
const check = (...gates: Gate[]) => checkGates({ gates }, [{ id: 'bench', plugin: bench as never, options: {} }]);

describe('gates on the embedding metrics', () => {
  it('accept bench.embedding.recallAt10 (also as a percentage), spearman and the retrieval accuracy', () => {
    expect(check(gate('bench.embedding.recallAt10'), gate('bench.embedding.recallAt10', true), gate('bench.embedding.spearman'), gate('bench.embedding.int8RetrievalAccuracy'))).toEqual([]);
  });

  it('a misspelt one is refused at its line with the declared name', () => {
    const [d] = check(gate('bench.embedding.recalAt10'));
    expect(d).toMatchObject({ code: 'RECIPE_GATE', location: at });
    expect(d!.message).toBe('gate "bench.embedding.recalAt10": bench has no metric "embedding.recalAt10"');
    expect(d!.hint).toContain('did you mean "bench.embedding.recallAt10"?');
  });

  it('the object is not a number, and a cosine takes no percentage', () => {
    expect(check(gate('bench.embedding'))[0]!.message).toBe('gate "bench.embedding": embedding is an object, not a number');
    expect(check(gate('bench.embedding.meanCosine', true))[0]!.message).toContain('a percentage compares a ratio');
  });
});
