// RoPE's inverse frequencies as transformers computes them (modeling_rope_utils.py), each step in
// float32 as torch does: the default 1 / θ^(2k / d), and the two rescalings that depend on the config
// alone, `linear` (÷ factor) and `llama3` (wavelengths beyond original / low_freq_factor ÷ factor,
// below original / high_freq_factor kept, a smooth blend between). The graph only multiplies them
// by position_ids, so they are one constant initializer.
import type { DecoderConfig } from './decoder-config.ts';

const f = Math.fround;

export function ropeInverseFrequencies(cfg: Pick<DecoderConfig, 'headDim' | 'ropeTheta' | 'ropeScaling'>): Float32Array {
  const half = cfg.headDim / 2;
  const inv = new Float32Array(half);
  // _compute_default_rope_parameters: 1.0 / (base ** (arange(0, dim, 2).float() / dim)).
  for (let k = 0; k < half; k++) inv[k] = f(1 / f(Math.pow(cfg.ropeTheta, f(f(2 * k) / cfg.headDim))));
  const s = cfg.ropeScaling;
  if (!s) return inv;
  const factor = f(s.factor);
  if (s.type === 'linear') return inv.map((v) => f(v / factor));
  // _compute_llama3_parameters.
  const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositions / s.highFreqFactor;
  return inv.map((v) => {
    const wavelen = f(f(2 * Math.PI) / v);
    if (wavelen > lowWavelen) return f(v / factor);
    if (wavelen < highWavelen) return v;
    const smooth = f(f(f(f(s.originalMaxPositions) / wavelen) - f(s.lowFreqFactor)) / f(s.highFreqFactor - s.lowFreqFactor));
    return f(f(f(f(1 - smooth) * v) / factor) + f(smooth * v));
  });
}
