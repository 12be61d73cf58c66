// How much a quantized weight moves its layer's output on the calibration activations, from the
// Hessian alone: with E = W − Ŵ (B's layout [K, N]) and H = Σ x xᵀ, ‖X E‖² = Σ_ij H_ij (E_i · E_j).
// Taken under the dampened H + λI that GPTQ minimizes (whose value for GPTQ's own codes it returns
// for free, src/quant/weight-only/gptq.ts), relative to ‖X W‖² the same way; the step reports GPTQ's
// against round-to-nearest's.
import { dequantize, type QuantizedWeight } from './block-quant.ts';

/**
 * Σ_ij H_ij (rows_i · rows_j) + λ Σ rows², rows [K, N] row-major; over the output columns
 * n ≡ 0 (mod `stride`) only when a stride is given (an estimate at 1/stride of the K²N/2 cost).
 */
export function hessianQuadratic(allRows: ArrayLike<number>, K: number, N: number, h: Float64Array, lambda = 0, stride = 1): number {
  const rows = stride > 1 ? columnsEvery(allRows, K, N, stride) : allRows;
  if (stride > 1) N = Math.ceil(N / stride);
  let total = 0;
  for (let i = 0; i < K; i++) {
    const ri = i * N;
    for (let j = i; j < K; j++) {
      const hij = h[i * K + j]! + (i === j ? lambda : 0);
      if (hij === 0) continue;
      const rj = j * N;
      let dot = 0;
      for (let n = 0; n < N; n++) dot += rows[ri + n]! * rows[rj + n]!;
      total += (i === j ? 1 : 2) * hij * dot;
    }
  }
  return total;
}

function columnsEvery(rows: ArrayLike<number>, K: number, N: number, stride: number): Float64Array {
  const M = Math.ceil(N / stride);
  const out = new Float64Array(K * M);
  for (let k = 0; k < K; k++) for (let m = 0; m < M; m++) out[k * M + m] = rows[k * N + m * stride]!;
  return out;
}

/** The stride that leaves about `columns` output columns (1: all of them). */
export function sampleStride(N: number, columns: number): number {
  return Math.max(1, Math.floor(N / columns));
}

/** ‖X(W − Ŵ)‖² under H + λI for a quantized weight (over every `stride`-th output column). */
export function quantizationLoss(weight: Float32Array, q: QuantizedWeight, h: Float64Array, lambda = 0, stride = 1): number {
  const deq = dequantize(q);
  const e = new Float64Array(weight.length);
  for (let i = 0; i < e.length; i++) e[i] = weight[i]! - deq[i]!;
  return hessianQuadratic(e, q.K, q.N, h, lambda, stride);
}

/** ‖X(W − Ŵ)‖² / ‖X W‖², both under H + λI (over every `stride`-th output column). */
export function relativeOutputError(weight: Float32Array, q: QuantizedWeight, h: Float64Array, lambda = 0, stride = 1): number {
  const ref = hessianQuadratic(weight, q.K, q.N, h, lambda, stride);
  return ref > 0 ? quantizationLoss(weight, q, h, lambda, stride) / ref : 0;
}
