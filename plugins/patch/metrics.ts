// What the patch step reports (src/engine/plugin.ts MetricsDeclaration). Plain data, so the reports,
// the gate check and docs/recipe-reference.md read it without loading the plugin.
import type { MetricsDeclaration } from '../../src/engine/plugin.ts';

export const patchMetrics: MetricsDeclaration = {
  rules: { type: 'object', description: 'Each rule (and smoothquant): "applied: …" or "not applied: why".' },
  changes: { unit: 'count', better: 'none', description: 'Graph edits made by all rules together.' },
  smoothquant: {
    type: 'object',
    optional: true,
    description: 'SmoothQuant: α, samples, LayerNorms and weights rescaled, and each LayerNorm output\'s channel spread before and after.',
    fields: {
      alpha: { unit: 'number', better: 'none', description: 'The migration strength α.' },
      samples: { unit: 'count', better: 'none', description: 'Samples the activation maxima came from.' },
      layerNorms: { unit: 'count', better: 'none', description: 'LayerNorms whose γ/β were divided by the smoothing scales.' },
      weights: { unit: 'count', better: 'none', description: 'Weights multiplied by them.' },
      restored: { unit: 'count', better: 'none', description: 'Mul nodes inserted where a smoothed output also feeds a non-MatMul consumer.' },
      channelSpread: { type: 'table', description: 'Per smoothed tensor: the spread of its channels\' maxima before and after.' },
    },
  },
};
