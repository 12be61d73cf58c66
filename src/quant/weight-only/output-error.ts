// How much a quantized weight moves its layer's output on the calibration activations, from the
// Hessian alone: with E = W − Ŵ (B's layout [K, N]) and H = Σ x xᵀ, ‖X E‖² = Σ_ij H_ij (E_i · E_j),
// relative to ‖X W‖² the same way. GPTQ minimizes exactly this; the step reports it against RTN's.
import { dequantize, type QuantizedWeight } from './block-quant.ts';

function quadratic(rows: Float64Array, K: number, N: number, h: Float64Array): number {
  let total = 0;
  for (let i = 0; i < K; i++) {
    const ri = i * N;
    for (let j = i; j < K; j++) {
      const hij = h[i * K + j]!;
      if (hij === 0) continue;
      const rj = j * N;
      let dot = 0;
      for (let n = 0; n < N; n++) dot += rows[ri + n]! * rows[rj + n]!;
      total += (i === j ? 1 : 2) * hij * dot;
    }
  }
  return total;
}

export function relativeOutputError(weight: Float32Array, q: QuantizedWeight, h: Float64Array): number {
  const deq = dequantize(q);
  const e = new Float64Array(weight.length);
  for (let i = 0; i < e.length; i++) e[i] = weight[i]! - deq[i]!;
  const ref = quadratic(Float64Array.from(weight), q.K, q.N, h);
  return ref > 0 ? quadratic(e, q.K, q.N, h) / ref : 0;
}
