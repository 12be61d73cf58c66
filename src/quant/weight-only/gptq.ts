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
  /**
   * Quantize the input rows in decreasing order of H_kk (the reference implementation's act-order /
   * desc_act), so the inputs with the most energy are rounded first and have the most rows left to
   * absorb their errors. Block scales are then fixed beforehand from the original rows ("static
   * groups"), so blocks stay contiguous along K and the stored layout is unchanged (no g_idx).
   */
  actOrder?: boolean;
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
  const w0 = Float64Array.from(weight);
  const h0 = Float64Array.from(hessian);
  for (let k = 0; k < K; k++) {
    if (h0[k * K + k]! <= 0) {
      // A dead input: its weights cannot matter on this data; zero them, and make H invertible.
      h0[k * K + k] = 1;
      w0.fill(0, k * N, (k + 1) * N);
    }
  }
  const q = emptyQuantized(K, N, spec);
  const levels = 2 ** spec.bits - 1;
  const block = new Float64Array(Math.min(K, q.blockSize));
  const importance = new Float64Array(Math.min(K, q.blockSize));
  /** Scales of original block b for every column, from rows `rowOf(r)` of `rows` (with clip: weighted by H_rr). */
  const setBlockScales = (b: number, rows: Float64Array, rowOf: (k: number) => number) => {
    const k0 = b * q.blockSize;
    const k1 = Math.min(K, k0 + q.blockSize);
    for (let k = k0; k < k1; k++) importance[k - k0] = h0[k * K + k]!;
    for (let n = 0; n < N; n++) {
      for (let k = k0; k < k1; k++) block[k - k0] = rows[rowOf(k) * N + n]!;
      const p = chooseBlockParams(block, k1 - k0, spec, importance);
      q.scales[n * q.blocks + b] = p.scale;
      q.zeroPoints[n * q.blocks + b] = p.zero;
    }
  };
  // The order rows are quantized in: K's own, or by decreasing H_kk (ties: lower index first).
  const order = Array.from({ length: K }, (_, k) => k);
  if (opts.actOrder) {
    order.sort((a, b) => h0[b * K + b]! - h0[a * K + a]! || a - b);
    for (let b = 0; b < q.blocks; b++) setBlockScales(b, w0, (k) => k);
  }
  // W and H permuted into that order.
  const w = new Float64Array(K * N);
  const h = new Float64Array(K * K);
  let meanDiag = 0;
  for (let i = 0; i < K; i++) {
    w.set(w0.subarray(order[i]! * N, (order[i]! + 1) * N), i * N);
    for (let j = 0; j < K; j++) h[i * K + j] = h0[order[i]! * K + order[j]!]!;
    meanDiag += h[i * K + i]! / K;
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
  const err = new Float64Array(N);
  let loss = 0;
  // Position of each original row in `order` (for the scales chosen from the rows as they are now).
  const position = new Int32Array(K);
  order.forEach((k, i) => (position[k] = i));
  for (let i = 0; i < K; i++) {
    const k = order[i]!;
    const b = Math.floor(k / q.blockSize);
    // In K's own order, a block's scales are chosen when it is reached, from its rows as earlier
    // rows' compensation left them.
    if (!opts.actOrder && k % q.blockSize === 0) setBlockScales(b, w, (r) => position[r]!);
    const d = u![i * K + i]!;
    const row = i * N;
    for (let n = 0; n < N; n++) {
      const v = w[row + n]!;
      const scale = q.scales[n * q.blocks + b]!;
      const zero = q.zeroPoints[n * q.blocks + b]!;
      const code = quantizeValue(v, scale, zero, levels);
      q.codes[n * K + k] = code;
      const e = (v - Math.fround((code - zero) * scale)) / d;
      err[n] = e;
      loss += e * e;
    }
    // Spread the error over the rows not yet quantized.
    for (let j = i + 1; j < K; j++) {
      const c = u![i * K + j]!;
      if (c === 0) continue;
      const rj = j * N;
      for (let n = 0; n < N; n++) w[rj + n] = w[rj + n]! - c * err[n]!;
    }
  }
  return { ...q, loss, lambda };
}
