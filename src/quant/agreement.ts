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
