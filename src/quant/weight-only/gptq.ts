// GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
// Transformers", 2022, arXiv:2210.17323): quantizes a linear layer's weight one input channel at a
// time and spreads each channel's rounding error over the channels not yet quantized, weighted by the
// inverse Hessian of the layer's squared output error, H = Σ x xᵀ over the calibration tokens (K × K).
// Minimizes ‖X W - X Ŵ‖² far better than rounding each weight alone when the inputs are correlated or
// some input channels are much larger than others (the outliers of LayerNorm outputs).
//
// Here W is the MatMul's B [K, N]: input channel k is row k, so the paper's column updates are row
// updates of B (contiguous). Block-wise scales are chosen when the quantization reaches a block's first
// row, from the rows as the earlier error compensation left them (the paper's "groupsize" with static
// groups off, as its reference implementation does). Dead inputs (H_kk = 0: a channel never nonzero
// on the calibration data) are zeroed. Dampening λ = `dampening` · mean(diag H) keeps H positive
// definite. All arithmetic in float64; the same H and weight give the same codes on every machine.
import { chooseBlockParams, emptyQuantized, quantizeValue, type BlockSpec, type QuantizedWeight } from './block-quant.ts';

export interface GptqOptions {
  /** λ / mean(diag H) (the paper's 1%). */
  dampening: number;
}

/** Lower Cholesky factor of a symmetric positive definite K × K matrix (row-major), or undefined when it is not. */
export function cholesky(a: Float64Array, K: number): Float64Array | undefined {
  const l = new Float64Array(K * K);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * K + j]!;
      const ri = i * K;
      const rj = j * K;
      for (let p = 0; p < j; p++) s -= l[ri + p]! * l[rj + p]!;
      if (i === j) {
        if (!(s > 0)) return undefined;
        l[ri + i] = Math.sqrt(s);
      } else l[ri + j] = s / l[rj + j]!;
    }
  }
  return l;
}

/**
 * The upper triangular U with Uᵀ U = H⁻¹ (what GPTQ walks through row by row), from one Cholesky
 * factorization: with J the order-reversing permutation, chol(J H J) = M gives H = R Rᵀ for the upper
 * triangular R = J M J, so H⁻¹ = R⁻ᵀ R⁻¹ and U = R⁻¹.
 */
export function upperInverseFactor(h: Float64Array, K: number): Float64Array | undefined {
  const rev = new Float64Array(K * K);
  for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) rev[i * K + j] = h[(K - 1 - i) * K + (K - 1 - j)]!;
  const m = cholesky(rev, K);
  if (!m) return undefined;
  // R[i][j] = M[K-1-i][K-1-j], upper triangular, stored row-major so the loops below read rows.
  const r = new Float64Array(K * K);
  for (let i = 0; i < K; i++) for (let j = i; j < K; j++) r[i * K + j] = m[(K - 1 - i) * K + (K - 1 - j)]!;
  // U = R⁻¹ row by row from U R = I: u_ip = (δ_ip − Σ_{q<p} u_iq r_qp) / r_pp, the sums kept in
  // `acc` and grown by whole rows of R (contiguous) as each u_ip is found.
  const u = new Float64Array(K * K);
  const acc = new Float64Array(K);
  for (let i = 0; i < K; i++) {
    acc.fill(0, i);
    const ui = i * K;
    for (let p = i; p < K; p++) {
      const v = ((p === i ? 1 : 0) - acc[p]!) / r[p * K + p]!;
      u[ui + p] = v;
      if (v === 0) continue;
      const rp = p * K;
      for (let j = p + 1; j < K; j++) acc[j] = acc[j]! + v * r[rp + j]!;
    }
  }
  return u;
}

/**
 * GPTQ on B [K, N] (float32, row-major) with H = Σ x xᵀ [K, K] of the MatMul's input over the
 * calibration tokens. Returns codes and scales in the layout of quantizeRtn.
 */
export interface GptqResult extends QuantizedWeight {
  /**
   * ‖X(W − Ŵ)‖² under the dampened Hessian H + λI, which GPTQ accumulates as it goes (Σ of the
   * squared scaled errors: the quadratic form written through H⁻¹'s Cholesky factor), for free.
   */
  loss: number;
  /** The λ added to H's diagonal. */
  lambda: number;
}

export function quantizeGptq(weight: Float32Array, K: number, N: number, hessian: Float64Array, spec: BlockSpec, opts: GptqOptions = { dampening: 0.01 }): GptqResult {
  if (weight.length !== K * N) throw new Error(`weight has ${weight.length} values, expected ${K}×${N}`);
  if (hessian.length !== K * K) throw new Error(`hessian has ${hessian.length} values, expected ${K}×${K}`);
  const w = Float64Array.from(weight);
  const h = Float64Array.from(hessian);
  let meanDiag = 0;
  for (let k = 0; k < K; k++) {
    if (h[k * K + k]! <= 0) {
      // A dead input: its weights cannot matter on this data; zero them, and make H invertible.
      h[k * K + k] = 1;
      w.fill(0, k * N, (k + 1) * N);
    }
    meanDiag += h[k * K + k]! / K;
  }
  let u: Float64Array | undefined;
  let lambda = 0;
  for (let damp = opts.dampening; !u; damp *= 10) {
    const hd = Float64Array.from(h);
    lambda = damp * meanDiag;
    for (let k = 0; k < K; k++) hd[k * K + k] = hd[k * K + k]! + lambda;
    u = upperInverseFactor(hd, K);
    if (damp > 1e6) throw new Error('GPTQ: the Hessian stays singular whatever the dampening');
  }
  const q = emptyQuantized(K, N, spec);
  const levels = 2 ** spec.bits - 1;
  const err = new Float64Array(N);
  const scale = new Float64Array(N);
  const zero = new Float64Array(N);
  let loss = 0;
  const block = new Float64Array(Math.min(K, q.blockSize));
  const importance = new Float64Array(Math.min(K, q.blockSize));
  for (let k = 0; k < K; k++) {
    const b = Math.floor(k / q.blockSize);
    if (k % q.blockSize === 0) {
      // The block's scales from its rows as they are now (earlier rows' errors already folded in).
      // With clip, the range search weighs each row by its input's energy H_rr.
      const k1 = Math.min(K, k + q.blockSize);
      for (let r = k; r < k1; r++) importance[r - k] = h[r * K + r]!;
      for (let n = 0; n < N; n++) {
        for (let r = k; r < k1; r++) block[r - k] = w[r * N + n]!;
        const p = chooseBlockParams(block, k1 - k, spec, importance);
        scale[n] = p.scale;
        zero[n] = p.zero;
        q.scales[n * q.blocks + b] = p.scale;
        q.zeroPoints[n * q.blocks + b] = p.zero;
      }
    }
    const d = u![k * K + k]!;
    const row = k * N;
    for (let n = 0; n < N; n++) {
      const v = w[row + n]!;
      const code = quantizeValue(v, scale[n]!, zero[n]!, levels);
      q.codes[n * K + k] = code;
      const e = (v - Math.fround((code - zero[n]!) * scale[n]!)) / d;
      err[n] = e;
      loss += e * e;
    }
    // Spread the error over the rows not yet quantized.
    for (let j = k + 1; j < K; j++) {
      const c = u![k * K + j]!;
      if (c === 0) continue;
      const rj = j * N;
      for (let n = 0; n < N; n++) w[rj + n] = w[rj + n]! - c * err[n]!;
    }
  }
  return { ...q, loss, lambda };
}
