// How much a quantized weight moves its layer's output on the calibration activations, from the
// Hessian alone: with E = W − Ŵ (B's layout [K, N]) and H = Σ x xᵀ, ‖X E‖² = Σ_ij H_ij (E_i · E_j).
// Taken under the dampened H + λI that GPTQ minimizes (whose value for GPTQ's own codes it returns
// for free, src/quant/weight-only/gptq.ts), relative to ‖X W‖² the same way; the step reports GPTQ's
// against round-to-nearest's.
import { dequantize, type QuantizedWeight } from './block-quant.ts';

/** Σ_ij H_ij (rows_i · rows_j) + λ Σ rows², rows [K, N] row-major. */
export function hessianQuadratic(rows: ArrayLike<number>, K: number, N: number, h: Float64Array, lambda = 0): number {
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

/** ‖X(W − Ŵ)‖² under H + λI for a quantized weight. */
export function quantizationLoss(weight: Float32Array, q: QuantizedWeight, h: Float64Array, lambda = 0): number {
  const deq = dequantize(q);
  const e = new Float64Array(weight.length);
  for (let i = 0; i < e.length; i++) e[i] = weight[i]! - deq[i]!;
  return hessianQuadratic(e, q.K, q.N, h, lambda);
}

/** ‖X(W − Ŵ)‖² / ‖X W‖², both under H + λI. */
export function relativeOutputError(weight: Float32Array, q: QuantizedWeight, h: Float64Array, lambda = 0): number {
  const ref = hessianQuadratic(weight, q.K, q.N, h, lambda);
  return ref > 0 ? quantizationLoss(weight, q, h, lambda) / ref : 0;
}
