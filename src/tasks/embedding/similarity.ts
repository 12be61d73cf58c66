// The numbers that judge an INT8 embedding model against its FP32 original over one evaluation set:
// how close each vector stays (cosine), whether each text keeps its nearest neighbours (recall@k),
// whether the whole similarity structure keeps its order (Spearman over every pair), and, where the
// data has paraphrase groups, whether the nearest other text is still a paraphrase.

/** Rows scaled to unit length (a zero row stays zero). */
export function unitRows(rows: Float32Array[]): Float64Array[] {
  return rows.map((r) => {
    let n = 0;
    for (let i = 0; i < r.length; i++) n += r[i]! * r[i]!;
    const s = n > 0 ? 1 / Math.sqrt(n) : 0;
    return Float64Array.from(r, (v) => v * s);
  });
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** The full cosine-similarity matrix of unit rows, row-major. */
export function cosineMatrix(unit: Float64Array[]): Float64Array {
  const n = unit.length;
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const v = dot(unit[i]!, unit[j]!);
      m[i * n + j] = v;
      m[j * n + i] = v;
    }
  }
  return m;
}

/**
 * The k nearest other rows of each unit row, by descending cosine; ties broken by the lower index,
 * so two runs on equal vectors agree. One row of similarities at a time: memory stays O(n) however
 * large the evaluation set.
 */
export function nearestNeighbours(unit: Float64Array[], k: number): number[][] {
  const n = unit.length;
  const sims = new Float64Array(n);
  return unit.map((row, i) => {
    for (let j = 0; j < n; j++) sims[j] = dot(row, unit[j]!);
    const top: number[] = [];
    // Insertion into a sorted list of at most k: O(n·k), no sort of the whole row.
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      if (top.length === k && !(sims[j]! > sims[top[k - 1]!]!)) continue;
      let at = top.length === k ? k - 1 : top.length;
      while (at > 0 && sims[j]! > sims[top[at - 1]!]!) at--;
      top.splice(at, 0, j);
      if (top.length > k) top.pop();
    }
    return top;
  });
}

/** Spearman's ρ of pairwise similarities is taken over every pair of the first this many texts (~500,000 pairs). */
export const SPEARMAN_TEXTS = 1000;

/** Mean over rows of |candidate's k nearest ∩ reference's k nearest| / k. */
export function recallAtK(reference: number[][], candidate: number[][]): number {
  if (reference.length === 0) return 1;
  let total = 0;
  reference.forEach((ref, i) => {
    const cand = new Set(candidate[i]);
    total += ref.length ? ref.filter((j) => cand.has(j)).length / ref.length : 1;
  });
  return total / reference.length;
}

/** Ranks 1…n with ties given their mean rank (as scipy.stats.rankdata's "average"). */
export function ranks(values: Float64Array): Float64Array {
  const order = Array.from(values.keys()).sort((a, b) => values[a]! - values[b]!);
  const out = new Float64Array(values.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && values[order[j + 1]!] === values[order[i]!]) j++;
    const rank = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) out[order[t]!] = rank;
    i = j + 1;
  }
  return out;
}

/** Pearson correlation; 1 when both are constant and equal, 0 when one is constant. */
export function pearson(a: Float64Array, b: Float64Array): number {
  const n = a.length;
  if (n === 0) return 1;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i]! - ma;
    const y = b[i]! - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  if (saa === 0 || sbb === 0) return saa === sbb ? 1 : 0;
  return sab / Math.sqrt(saa * sbb);
}

/** Spearman's ρ: Pearson correlation of the ranks (ties averaged). */
export function spearman(a: Float64Array, b: Float64Array): number {
  return pearson(ranks(a), ranks(b));
}

/** The upper triangle (i < j) of an n × n matrix, row by row. */
export function upperTriangle(m: Float64Array, n: number): Float64Array {
  const out = new Float64Array((n * (n - 1)) / 2);
  let k = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) out[k++] = m[i * n + j]!;
  return out;
}

/**
 * Gold paraphrase retrieval: among texts whose group has two or more members, the share whose
 * nearest other text (over the whole set) is in the same group; null when no group has two.
 */
export function retrievalAccuracy(nearest: number[][], groups: (string | null)[]): number | null {
  const sizes = new Map<string, number>();
  for (const g of groups) if (g !== null) sizes.set(g, (sizes.get(g) ?? 0) + 1);
  let scored = 0;
  let hits = 0;
  groups.forEach((g, i) => {
    if (g === null || (sizes.get(g) ?? 0) < 2) return;
    scored++;
    const top = nearest[i]![0];
    if (top !== undefined && groups[top] === g) hits++;
  });
  return scored ? hits / scored : null;
}

export interface EmbeddingComparison {
  texts: number;
  dimension: number;
  meanCosine: number;
  minCosine: number;
  recallAt10: number;
  spearman: number;
  fp32RetrievalAccuracy: number | null;
  int8RetrievalAccuracy: number | null;
  maxAbsError: number;
}

/** Everything above for one evaluation set: FP32 rows are the reference, INT8 rows the candidate. */
export function compareEmbeddings(fp32: Float32Array[], int8: Float32Array[], groups: (string | null)[], k = 10): EmbeddingComparison {
  const n = fp32.length;
  const ref = unitRows(fp32);
  const cand = unitRows(int8);
  const cosines = ref.map((r, i) => dot(r, cand[i]!));
  let maxAbsError = 0;
  fp32.forEach((r, i) => r.forEach((v, d) => (maxAbsError = Math.max(maxAbsError, Math.abs(v - int8[i]![d]!)))));
  const kk = Math.min(k, n - 1);
  const refNearest = nearestNeighbours(ref, kk);
  const candNearest = nearestNeighbours(cand, kk);
  const m = Math.min(n, SPEARMAN_TEXTS);
  return {
    texts: n,
    dimension: fp32[0]?.length ?? 0,
    meanCosine: n ? cosines.reduce((a, b) => a + b, 0) / n : 1,
    minCosine: n ? Math.min(...cosines) : 1,
    recallAt10: recallAtK(refNearest, candNearest),
    spearman: spearman(upperTriangle(cosineMatrix(ref.slice(0, m)), m), upperTriangle(cosineMatrix(cand.slice(0, m)), m)),
    fp32RetrievalAccuracy: retrievalAccuracy(refNearest, groups),
    int8RetrievalAccuracy: retrievalAccuracy(candNearest, groups),
    maxAbsError,
  };
}
