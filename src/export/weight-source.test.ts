import { describe, expect, it } from 'vitest';
import { seededNormal } from './seeded-normal.ts';
import { candidateNames, RandomWeights, transpose2d } from './weight-source.ts';

describe('candidateNames', () => {
  it('tries the name, the name without its base-model prefix, and TF-era LayerNorm names', () => {
    expect(candidateNames('classifier.weight')).toEqual(['classifier.weight']);
    expect(candidateNames('roberta.encoder.layer.0.attention.self.query.weight')).toEqual([
      'roberta.encoder.layer.0.attention.self.query.weight',
      'encoder.layer.0.attention.self.query.weight',
    ]);
    expect(candidateNames('bert.embeddings.LayerNorm.bias')).toEqual([
      'bert.embeddings.LayerNorm.bias',
      'embeddings.LayerNorm.bias',
      'bert.embeddings.LayerNorm.beta',
      'embeddings.LayerNorm.beta',
    ]);
  });
});

describe('random weights', () => {
  it('are normal(0, std), seeded by (seed, name), independent of the order of requests', () => {
    const a = seededNormal(1, 'w', 100_001, 0.02);
    expect(seededNormal(1, 'w', 100_001, 0.02)).toEqual(a);
    expect(seededNormal(2, 'w', 10, 0.02)).not.toEqual(a.subarray(0, 10));
    expect(seededNormal(1, 'v', 10, 0.02)).not.toEqual(a.subarray(0, 10));
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const std = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
    expect(Math.abs(mean)).toBeLessThan(0.0005);
    expect(std).toBeGreaterThan(0.0197);
    expect(std).toBeLessThan(0.0203);
  });

  it('have normal tails (the ziggurat’s wedges and tail are sampled correctly)', () => {
    const n = 400_000;
    const a = seededNormal(3, 'tails', n, 1);
    const beyond = [1, 2, 3].map((k) => a.reduce((c, v) => c + (Math.abs(v) > k ? 1 : 0), 0) / n);
    // P(|Z| > 1, 2, 3) = 0.3173, 0.0455, 0.0027; binomial standard errors ≈ 0.0007, 0.0003, 0.00008.
    expect(Math.abs(beyond[0]! - 0.3173)).toBeLessThan(0.003);
    expect(Math.abs(beyond[1]! - 0.0455)).toBeLessThan(0.0015);
    expect(Math.abs(beyond[2]! - 0.0027)).toBeLessThan(0.0004);
    expect(a.reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBeGreaterThan(3.6); // samples beyond the ziggurat's base r = 3.44
  });

  it('follow transformers’ init: LayerNorm 1 / 0, biases 0, the padding row of an embedding 0', async () => {
    const w = new RandomWeights(0, 0.02);
    expect(Array.from(await w.tensor('x.LayerNorm.weight', [3], 'ones'))).toEqual([1, 1, 1]);
    expect(Array.from(await w.tensor('x.bias', [2], 'zeros'))).toEqual([0, 0]);
    const table = await w.tensor('word_embeddings.weight', [4, 3], { normal: true, paddingRow: 1 });
    expect(Array.from(table.subarray(3, 6))).toEqual([0, 0, 0]);
    expect(table.subarray(0, 3).every((v) => v !== 0)).toBe(true);
  });
});

describe('transpose2d', () => {
  it('equals the element-by-element transpose for shapes that are not multiples of its 64 × 64 tiles', () => {
    for (const [rows, cols] of [[70, 130], [1, 65], [64, 64], [129, 3]] as const) {
      const v = Float32Array.from({ length: rows * cols }, (_, i) => i);
      const t = transpose2d(v, rows, cols);
      const expected = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) expected[c * rows + r] = v[r * cols + c]!;
      expect(Array.from(t)).toEqual(Array.from(expected));
    }
  });

  it('random weights come as [in, out] directly, from the same seeded stream', async () => {
    const w = new RandomWeights(4, 0.02);
    expect(Array.from(await w.transposed('q.weight', [3, 5], { normal: true }))).toEqual(Array.from(await w.tensor('q.weight', [5, 3], { normal: true })));
  });
});
