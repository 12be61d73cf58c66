// Accuracy of a quantized model against its FP32 reference, from the logits of both.

export interface AgreementMetrics {
  samples: number;
  /** Share of samples whose argmax agrees with FP32. */
  agreement: number;
  maxAbsError: number;
  meanAbsError: number;
  /** Mean and minimum cosine similarity of the logit vectors. */
  meanCosine: number;
  minCosine: number;
  /** Label accuracy of each model where labels are known (null otherwise). */
  referenceAccuracy: number | null;
  candidateAccuracy: number | null;
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? (na === nb ? 1 : 0) : dot / Math.sqrt(na * nb);
}

/**
 * `labels[i]` is the index of sample i's true class; null for every sample when the set has no
 * labels. Labels on some samples only are refused: an accuracy over part of the set would be
 * reported as if over all of it. src/data/labels.ts maps a data set's labels all or none.
 */
export function compareLogits(reference: Float32Array[], candidate: Float32Array[], labels: (number | null)[]): AgreementMetrics {
  const unlabelled = reference.reduce((n, _, i) => n + (labels[i] === null || labels[i] === undefined ? 1 : 0), 0);
  if (unlabelled > 0 && unlabelled < reference.length) {
    throw new Error(`compareLogits: ${unlabelled} of ${reference.length} samples have no label; map labels with src/data/labels.ts (all or none)`);
  }
  let agree = 0;
  let maxAbs = 0;
  let sumAbs = 0;
  let count = 0;
  let cosSum = 0;
  let cosMin = 1;
  let labelled = 0;
  let refRight = 0;
  let candRight = 0;
  reference.forEach((r, i) => {
    const c = candidate[i]!;
    const ra = argmax(r);
    const ca = argmax(c);
    if (ra === ca) agree++;
    for (let j = 0; j < r.length; j++) {
      const d = Math.abs(r[j]! - c[j]!);
      maxAbs = Math.max(maxAbs, d);
      sumAbs += d;
      count++;
    }
    const cs = cosine(r, c);
    cosSum += cs;
    cosMin = Math.min(cosMin, cs);
    const label = labels[i];
    if (label !== null && label !== undefined) {
      labelled++;
      if (ra === label) refRight++;
      if (ca === label) candRight++;
    }
  });
  const n = reference.length;
  return {
    samples: n,
    agreement: n ? agree / n : 0,
    maxAbsError: maxAbs,
    meanAbsError: count ? sumAbs / count : 0,
    meanCosine: n ? cosSum / n : 0,
    minCosine: cosMin,
    referenceAccuracy: labelled ? refRight / labelled : null,
    candidateAccuracy: labelled ? candRight / labelled : null,
  };
}

/**
 * Counts by class: the confusion matrices behind per-class accuracy. Rows are what the sample is (its
 * label, or FP32's prediction), columns what the model predicted; `classes` is the logits' width.
 */
export interface ClassBreakdown {
  classes: number;
  /** [label][FP32 prediction] and [label][INT8 prediction]; null when the set has no labels. */
  referenceVsLabels: number[][] | null;
  candidateVsLabels: number[][] | null;
  /** [FP32 prediction][INT8 prediction]: the diagonal is agreement, the rest the samples quantization flipped. */
  candidateVsReference: number[][];
}

/** One class's row of the per-class table, from a ClassBreakdown. */
export interface ClassRow {
  index: number;
  /** Samples labelled with this class; null without labels. */
  support: number | null;
  /** Recall of each model on this class (correct ÷ support); null without labels or samples. */
  referenceAccuracy: number | null;
  candidateAccuracy: number | null;
  /** Samples FP32 predicts as this class, and how many of them INT8 predicts as another. */
  referencePredicted: number;
  flipped: number;
}

const square = (n: number) => Array.from({ length: n }, () => new Array<number>(n).fill(0));

/**
 * The confusion matrices of `compareLogits`'s inputs (same label rules: all or none). A label or
 * prediction outside [0, classes) widens the matrices instead of being dropped.
 */
export function classBreakdown(reference: Float32Array[], candidate: Float32Array[], labels: (number | null)[], classes = reference[0]?.length ?? 0): ClassBreakdown {
  const predicted = reference.map((r, i) => [argmax(r), argmax(candidate[i]!)] as const);
  const labelled = labels.length === reference.length && reference.length > 0 && labels.every((l) => l !== null && l !== undefined);
  const n = Math.max(classes, ...predicted.flat().map((p) => p + 1), ...(labelled ? (labels as number[]).map((l) => l + 1) : []));
  const vsRef = square(n);
  const refVsGold = labelled ? square(n) : null;
  const candVsGold = labelled ? square(n) : null;
  predicted.forEach(([r, c], i) => {
    vsRef[r]![c]!++;
    if (refVsGold && candVsGold) {
      const l = labels[i]!;
      refVsGold[l]![r]!++;
      candVsGold[l]![c]!++;
    }
  });
  return { classes: n, referenceVsLabels: refVsGold, candidateVsLabels: candVsGold, candidateVsReference: vsRef };
}

export function classRows(b: ClassBreakdown): ClassRow[] {
  const sum = (row: number[]) => row.reduce((a, x) => a + x, 0);
  return Array.from({ length: b.classes }, (_, k) => {
    const support = b.referenceVsLabels ? sum(b.referenceVsLabels[k]!) : null;
    const recall = (m: number[][] | null) => (m && support ? m[k]![k]! / support : null);
    const referencePredicted = sum(b.candidateVsReference[k]!);
    return { index: k, support, referenceAccuracy: recall(b.referenceVsLabels), candidateAccuracy: recall(b.candidateVsLabels), referencePredicted, flipped: referencePredicted - b.candidateVsReference[k]![k]! };
  });
}

export function percentileOf(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

/**
 * Signal-to-quantization-noise ratio of the candidate's outputs, in dB:
 * 10·log10(Σ reference² / Σ (reference − candidate)²) over every value. +Infinity when identical.
 */
export function sqnrDb(reference: Float32Array[], candidate: Float32Array[]): number {
  let signal = 0;
  let noise = 0;
  reference.forEach((r, i) => {
    const c = candidate[i]!;
    for (let j = 0; j < r.length; j++) {
      signal += r[j]! * r[j]!;
      noise += (r[j]! - c[j]!) ** 2;
    }
  });
  if (noise === 0) return Infinity;
  return 10 * Math.log10(signal / noise);
}
