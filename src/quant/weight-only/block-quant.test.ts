// Round-to-nearest block quantization: every weight within half a step of its block's scale, the
// block's extreme values reached, zero exact, codes within [0, 2^bits - 1].
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../tests/helpers/temp.ts';
import { blockParams, dequantize, quantizeRtn, roundHalfEven, type BlockSpec } from './block-quant.ts';
import { seededRandom as seeded } from '../../../tests/helpers/temp.ts';

const rand = seededRandom(3);

describe('round-to-nearest block quantization', () => {
  const K = 100;
  const N = 7;
  // Per column a different magnitude, an outlier, and a block of exact zeros.
  const w = Float32Array.from({ length: K * N }, (_, i) => {
    const k = Math.floor(i / N);
    const n = i % N;
    if (k >= 64 && k < 80 && n === 2) return 0;
    return (rand() * 2 - 1) * (n + 1) * (k === 37 ? 9 : 1) + (n === 4 ? 0.5 : 0);
  });
  const specs: BlockSpec[] = [
    { bits: 4, blockSize: 32, symmetric: true },
    { bits: 4, blockSize: 32, symmetric: false },
    { bits: 4, blockSize: 128, symmetric: true },
    { bits: 8, blockSize: 16, symmetric: false },
    { bits: 8, blockSize: 1 << 30, symmetric: true },
  ];
  it.each(specs)('bits $bits, block $blockSize, symmetric $symmetric: |w − deq(w)| ≤ scale/2 in every block', (spec) => {
    const q = quantizeRtn(w, K, N, spec);
    const deq = dequantize(q);
    expect(q.blocks).toBe(Math.ceil(K / Math.min(spec.blockSize, 1 << 30)));
    let worst = 0;
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < K; k++) {
        const b = Math.floor(k / q.blockSize);
        const s = q.scales[n * q.blocks + b]!;
        const e = Math.abs(w[k * N + n]! - deq[k * N + n]!);
        worst = Math.max(worst, e / s);
        expect(e).toBeLessThanOrEqual(s / 2 + 1e-6 * s + 1e-7 * Math.abs(w[k * N + n]!));
        expect(q.codes[n * K + k]).toBeLessThanOrEqual(2 ** spec.bits - 1);
        if (w[k * N + n] === 0) expect(deq[k * N + n]).toBe(0);
      }
      // The scale is as small as the block allows: its largest magnitude sits at the top level.
      for (let b = 0; b < q.blocks; b++) {
        const rows = Array.from({ length: Math.min(K, (b + 1) * q.blockSize) - b * q.blockSize }, (_, i) => w[(b * q.blockSize + i) * N + n]!);
        const amax = Math.max(...rows.map(Math.abs));
        if (amax === 0) continue;
        const s = q.scales[n * q.blocks + b]!;
        if (spec.symmetric) expect(s).toBeCloseTo(amax / (2 ** (spec.bits - 1) - 1), 6);
        else expect(s).toBeCloseTo((Math.max(0, ...rows) - Math.min(0, ...rows)) / (2 ** spec.bits - 1), 6);
      }
    }
    expect(worst).toBeGreaterThan(0.4); // the bound is tight, not vacuous
  });

  it('symmetric blocks use the zero point 2^(bits-1); an all-zero block gets scale 1', () => {
    expect(blockParams(0, 0, { bits: 4, symmetric: true })).toEqual({ scale: 1, zero: 8 });
    expect(blockParams(-1, 0.5, { bits: 8, symmetric: true }).zero).toBe(128);
    expect(blockParams(0.5, 3, { bits: 4, symmetric: false }).zero).toBe(0);
  });

  it('clip: every block\'s squared error at most the full range\'s, and less overall on heavy-tailed weights', () => {
    const r = seeded(9);
    const [K2, N2] = [256, 16];
    // Student-t-like weights: a normal divided by a random scale gives rare large values per block.
    const heavy = Float32Array.from({ length: K2 * N2 }, () => {
      const g = Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
      return g / Math.sqrt(0.2 + r());
    });
    for (const spec of [{ bits: 4, blockSize: 32, symmetric: true }, { bits: 4, blockSize: 64, symmetric: false }] as BlockSpec[]) {
      const full = dequantize(quantizeRtn(heavy, K2, N2, spec));
      const clipped = dequantize(quantizeRtn(heavy, K2, N2, { ...spec, clip: true }));
      let total = [0, 0];
      for (let n = 0; n < N2; n++) {
        for (let b = 0; b < K2 / spec.blockSize; b++) {
          let [ef, ec] = [0, 0];
          for (let k = b * spec.blockSize; k < (b + 1) * spec.blockSize; k++) {
            ef += (heavy[k * N2 + n]! - full[k * N2 + n]!) ** 2;
            ec += (heavy[k * N2 + n]! - clipped[k * N2 + n]!) ** 2;
          }
          expect(ec).toBeLessThanOrEqual(ef * (1 + 1e-12));
          total = [total[0]! + ef, total[1]! + ec];
        }
      }
      expect(total[1]).toBeLessThan(0.97 * total[0]!);
    }
  });

  it('rounds half to even', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2]);
  });
});
