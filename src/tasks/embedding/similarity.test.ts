// The embedding metrics on cases worked out by hand.
import { describe, expect, it } from 'vitest';
import { compareEmbeddings, nearestNeighbours, ranks, recallAtK, retrievalAccuracy, spearman, unitRows } from './similarity.ts';

const f = (...rows: number[][]) => rows.map((r) => Float32Array.from(r));

describe('embedding similarity metrics', () => {
  it('Spearman: ranks with ties averaged; 1 for the same order, 0.5 for one swap of three, −1 reversed', () => {
    expect([...ranks(Float64Array.from([10, 20, 20, 5]))]).toEqual([2, 3.5, 3.5, 1]);
    expect(spearman(Float64Array.from([1, 2, 3]), Float64Array.from([10, 20, 30]))).toBeCloseTo(1, 12);
    expect(spearman(Float64Array.from([1, 2, 3]), Float64Array.from([1, 3, 2]))).toBeCloseTo(0.5, 12);
    expect(spearman(Float64Array.from([1, 2, 3, 4]), Float64Array.from([4, 3, 2, 1]))).toBeCloseTo(-1, 12);
  });

  it('nearest neighbours by cosine, recall@k as the shared share, retrieval accuracy over groups of two or more', () => {
    // Points on a circle at 0°, 10°, 90°, 100°: each one's nearest is its 10° neighbour.
    const deg = (d: number) => [Math.cos((d * Math.PI) / 180), Math.sin((d * Math.PI) / 180)];
    const rows = f(deg(0), deg(10), deg(90), deg(100));
    const nn = nearestNeighbours(unitRows(rows), 2);
    expect(nn).toEqual([
      [1, 2],
      [0, 2],
      [3, 1],
      [2, 1],
    ]);
    expect(recallAtK(nn, nn)).toBe(1);
    expect(recallAtK([[1, 2]], [[1, 3]])).toBe(0.5);
    expect(retrievalAccuracy(nn, ['a', 'a', 'b', 'c'])).toBe(2 / 2); // 'b' and 'c' are alone: not scored
    expect(retrievalAccuracy(nn, ['a', 'b', 'a', 'b'])).toBe(0);
    expect(retrievalAccuracy(nn, [null, null, null, null])).toBeNull();
  });

  it('compareEmbeddings: identical sets agree fully; a rotated copy keeps neighbours but not cosine to the reference', () => {
    const rows = f([1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.9, 0.2], [0, 0, 1]);
    const same = compareEmbeddings(rows, rows, ['a', 'a', 'b', 'b', null]);
    expect(same).toMatchObject({ texts: 5, dimension: 3, recallAt10: 1, maxAbsError: 0, fp32RetrievalAccuracy: 1, int8RetrievalAccuracy: 1 });
    expect(same.meanCosine).toBeCloseTo(1, 6);
    expect(same.spearman).toBeCloseTo(1, 12);
    // A rotation (x→y→z→x) keeps every pairwise similarity, so neighbours and Spearman hold, but
    // each vector now points elsewhere than its FP32 original.
    const rotated = rows.map((r) => Float32Array.from([r[2]!, r[0]!, r[1]!]));
    const rot = compareEmbeddings(rows, rotated, ['a', 'a', 'b', 'b', null]);
    expect(rot.recallAt10).toBe(1);
    expect(rot.spearman).toBeCloseTo(1, 6);
    expect(rot.meanCosine).toBeLessThan(0.5);
  });
});

describe('nearestNeighbours', () => {
  it('equals a full sort of each row (ties to the lower index) on random vectors', () => {
    let seed = 1;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
    const rows = unitRows(Array.from({ length: 40 }, () => Float32Array.from({ length: 5 }, () => Math.round(rand() * 4) / 4)));
    const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, d) => s + v * b[d]!, 0);
    const bySort = rows.map((r, i) =>
      rows
        .map((_, j) => j)
        .filter((j) => j !== i)
        .sort((a, b) => dot(r, rows[b]!) - dot(r, rows[a]!) || a - b)
        .slice(0, 7),
    );
    expect(nearestNeighbours(rows, 7)).toEqual(bySort);
  });
});
