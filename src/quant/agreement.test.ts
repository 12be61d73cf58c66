// compareLogits on hand-made logits, where every metric can be worked out on paper.
import { describe, expect, it } from 'vitest';
import { argmax, classBreakdown, classRows, compareLogits, percentileOf } from './agreement.ts';

const f = (...v: number[]) => Float32Array.from(v);

describe('compareLogits', () => {
  const reference = [f(1, 2, 3), f(5, 0, 0), f(0, 0, 1), f(3, 4, 0)];
  const candidate = [f(1, 2, 3), f(4, 1, 0), f(0, 2, 1), f(-3, -4, 0)];

  it('agreement, errors and cosines', () => {
    const m = compareLogits(reference, candidate, [null, null, null, null]);
    expect(m.samples).toBe(4);
    // argmax: ref 2,0,2,1 — cand 2,0,1,2 → the first two agree.
    expect(m.agreement).toBe(0.5);
    // |diff|: [0,0,0] [1,1,0] [0,2,0] [6,8,0] → max 8, mean 18/12.
    expect(m.maxAbsError).toBe(8);
    expect(m.meanAbsError).toBeCloseTo(18 / 12, 12);
    // cosines: 1; 20/(5·√17); 1/√5; -1 (opposite vectors).
    const cosines = [1, 20 / (5 * Math.sqrt(17)), 1 / Math.sqrt(5), -1];
    expect(m.meanCosine).toBeCloseTo(cosines.reduce((a, b) => a + b) / 4, 6);
    expect(m.minCosine).toBeCloseTo(-1, 6);
  });

  it('accuracy over every sample for each model; no labels is null; labels on some samples only are refused', () => {
    const m = compareLogits(reference, candidate, [2, 0, 1, 0]);
    // ref right on 0 and 1 (2, 0; sample 2 predicts 2 ≠ 1; sample 3 predicts 2 ≠ 0).
    expect(m.referenceAccuracy).toBe(2 / 4);
    const unlabelled = compareLogits(reference, candidate, [null, null, null, null]);
    expect(unlabelled.referenceAccuracy).toBeNull();
    expect(unlabelled.candidateAccuracy).toBeNull();
    // An accuracy over 3 of 4 samples would read as over all 4.
    expect(() => compareLogits(reference, candidate, [2, 0, 1, null])).toThrow('1 of 4 samples have no label');
  });

  it('identical logits agree fully with zero error', () => {
    const m = compareLogits(reference, reference.map((r) => r.slice()), [2, 0, 2, 1]);
    expect(m).toMatchObject({ agreement: 1, maxAbsError: 0, meanAbsError: 0, referenceAccuracy: 1, candidateAccuracy: 1 });
    expect(m.meanCosine).toBeCloseTo(1, 12);
  });

  it('zero vectors: cosine 1 when both are zero, 0 when only one is', () => {
    expect(compareLogits([f(0, 0)], [f(0, 0)], [null]).minCosine).toBe(1);
    expect(compareLogits([f(0, 0)], [f(1, 0)], [null]).minCosine).toBe(0);
  });

  it('no samples: zeros, not NaN', () => {
    const m = compareLogits([], [], []);
    expect(m).toMatchObject({ samples: 0, agreement: 0, maxAbsError: 0, meanAbsError: 0, meanCosine: 0 });
  });
});

describe('classBreakdown and classRows: per-class accuracy and confusion matrices', () => {
  const reference = [f(1, 2, 3), f(5, 0, 0), f(0, 0, 1), f(3, 4, 0)];
  const candidate = [f(1, 2, 3), f(4, 1, 0), f(0, 2, 1), f(-3, -4, 0)];
  // argmax: FP32 2,0,2,1 — INT8 2,0,1,2; labels 2,0,1,0.

  it('counts [label][prediction] for each model and [FP32][INT8] for the flips', () => {
    const b = classBreakdown(reference, candidate, [2, 0, 1, 0]);
    expect(b.classes).toBe(3);
    expect(b.referenceVsLabels).toEqual([
      [1, 1, 0], // label 0: FP32 predicted 0 (sample 1) and 1 (sample 3)
      [0, 0, 1], // label 1: FP32 predicted 2 (sample 2)
      [0, 0, 1], // label 2: right (sample 0)
    ]);
    expect(b.candidateVsLabels).toEqual([
      [1, 0, 1],
      [0, 1, 0],
      [0, 0, 1],
    ]);
    expect(b.candidateVsReference).toEqual([
      [1, 0, 0],
      [0, 0, 1], // FP32 said 1, INT8 said 2 (sample 3)
      [0, 1, 1], // FP32 said 2 twice: INT8 kept one, flipped one to 1 (sample 2)
    ]);
    // The diagonals add up to what compareLogits reports over all samples.
    const m = compareLogits(reference, candidate, [2, 0, 1, 0]);
    const trace = (x: number[][]) => x.reduce((a, row, i) => a + row[i]!, 0) / reference.length;
    expect(trace(b.candidateVsReference)).toBe(m.agreement);
    expect(trace(b.referenceVsLabels!)).toBe(m.referenceAccuracy);
    expect(trace(b.candidateVsLabels!)).toBe(m.candidateAccuracy);
  });

  it('per-class rows: support, each model\'s recall, FP32 predictions and how many INT8 flipped', () => {
    expect(classRows(classBreakdown(reference, candidate, [2, 0, 1, 0]))).toEqual([
      { index: 0, support: 2, referenceAccuracy: 0.5, candidateAccuracy: 0.5, referencePredicted: 1, flipped: 0 },
      { index: 1, support: 1, referenceAccuracy: 0, candidateAccuracy: 1, referencePredicted: 1, flipped: 1 },
      { index: 2, support: 1, referenceAccuracy: 1, candidateAccuracy: 1, referencePredicted: 2, flipped: 1 },
    ]);
  });

  it('without labels: no label matrices and null accuracies, the flips still counted; a class with no sample has a null recall', () => {
    const b = classBreakdown(reference, candidate, [null, null, null, null], 4);
    expect(b.referenceVsLabels).toBeNull();
    expect(b.candidateVsLabels).toBeNull();
    expect(b.classes).toBe(4);
    const rows = classRows(b);
    expect(rows.map((r) => [r.support, r.referenceAccuracy, r.flipped])).toEqual([
      [null, null, 0],
      [null, null, 1],
      [null, null, 1],
      [null, null, 0],
    ]);
    expect(classRows(classBreakdown(reference, candidate, [2, 0, 2, 0], 4))[1]).toMatchObject({ support: 0, referenceAccuracy: null, candidateAccuracy: null });
  });
});

describe('argmax and percentileOf', () => {
  it('argmax takes the first of equal maxima', () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
    expect(argmax([-1, -5])).toBe(0);
  });

  it('percentileOf uses the nearest-rank method', () => {
    const sorted = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
    expect(percentileOf(sorted, 50)).toBe(50);
    expect(percentileOf(sorted, 90)).toBe(90);
    expect(percentileOf(sorted, 91)).toBe(100);
    expect(percentileOf(sorted, 0)).toBe(10);
    expect(percentileOf(sorted, 100)).toBe(100);
    expect(percentileOf([], 50)).toBeNaN();
  });
});
