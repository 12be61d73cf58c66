// RoPE's inverse frequencies against transformers' formulas worked by hand in float64 (float32
// rounding aside): plain, linear and llama3 (one frequency in each of llama3's three bands).
import { describe, expect, it } from 'vitest';
import { ropeInverseFrequencies } from './rope.ts';

const plain = (k: number, d: number, theta: number) => 1 / theta ** ((2 * k) / d);
const close = (actual: Float32Array, expected: number[]) => actual.forEach((v, i) => expect(v / expected[i]!).toBeCloseTo(1, 6));

describe('ropeInverseFrequencies', () => {
  it('default: 1 / θ^(2k/d)', () => {
    close(ropeInverseFrequencies({ headDim: 8, ropeTheta: 500 }), [0, 1, 2, 3].map((k) => plain(k, 8, 500)));
  });

  it('linear: each ÷ factor', () => {
    close(ropeInverseFrequencies({ headDim: 8, ropeTheta: 1e4, ropeScaling: { type: 'linear', factor: 4 } }), [0, 1, 2, 3].map((k) => plain(k, 8, 1e4) / 4));
  });

  it('llama3: wavelength < original/high kept, > original/low ÷ factor, the blend between', () => {
    const scaling = { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 };
    const got = ropeInverseFrequencies({ headDim: 12, ropeTheta: 1e4, ropeScaling: scaling });
    const base = [0, 1, 2, 3, 4, 5].map((k) => plain(k, 12, 1e4));
    const wavelen = base.map((v) => (2 * Math.PI) / v); // 6.28, 29.2, 135, 628, …
    expect(wavelen[0]).toBeLessThan(64 / 4);
    expect(wavelen[1]).toBeGreaterThan(64 / 4);
    expect(wavelen[1]).toBeLessThan(64 / 1);
    expect(wavelen[2]).toBeGreaterThan(64);
    const smooth = (64 / wavelen[1]! - 1) / (4 - 1);
    close(got, [base[0]!, (1 - smooth) * (base[1]! / 8) + smooth * base[1]!, ...base.slice(2).map((v) => v / 8)]);
  });
});
