// torch.calibrate — activation ranges of the patched model on the calibration set: max, percentile,
// entropy (TensorRT's KL) or mse over a |x| histogram (qrun_worker/calibrators.py). Weights need no
// calibration: per-channel max |w|. The amax values go into quant_state.safetensors.
import { join, resolve } from 'node:path';
import type { Plugin, SourceRef } from '../../src/engine/plugin.ts';
import { datasetLabelIndices } from '../../src/data/labels.ts';
import { type Device, STATE_DIR, deviceSchema, runWorker, torchCpuKernels, torchFingerprint } from './common.ts';
import { torchCalibrateMetrics } from './metrics.ts';

export interface TorchCalibrateOptions {
  method: 'max' | 'percentile' | 'entropy' | 'mse';
  percentile: number;
  data: string;
  samples: number;
  batchSize: number;
  bins?: number;
  device: Device;
}

const torchCalibrate: Plugin<TorchCalibrateOptions> = {
  name: 'torch.calibrate',
  version: '1.1.0', // 1.1: labels mapped by src/data/labels.ts (indices or names) and passed to the worker
  description: 'Calibrate the fake quantizers on the calibration set (max, percentile, entropy, mse)',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      method: {
        enum: ['max', 'percentile', 'entropy', 'mse'],
        default: 'percentile',
        description: "How each quantizer's amax is chosen from the |x| histogram: max: the largest |x|; percentile: that percentile of |x|; entropy: TensorRT's KL-divergence threshold; mse: the least mean squared error",
        examples: ['entropy'],
      },
      percentile: { type: 'number', exclusiveMinimum: 50, maximum: 100, default: 99.99, description: 'the percentile of |x| kept (method: percentile)', examples: [99.9] },
      data: { type: 'string', default: 'calibration', description: 'name of the data set under `data:`' },
      samples: { type: 'integer', minimum: 0, default: 0, description: 'use the first N samples; 0 = all' },
      batchSize: { type: 'integer', minimum: 1, maximum: 4096, default: 16, description: 'samples per forward pass' },
      bins: { type: 'integer', minimum: 128, maximum: 1048576, description: 'histogram bins; default 8192 for percentile, 2048 for entropy and mse', examples: [4096] },
      device: deviceSchema,
    },
  },
  inputs: { state: { kind: 'torch-state' }, datasets: { kind: 'dataset' } },
  outputs: { state: { kind: 'torch-state', path: STATE_DIR } },
  metrics: torchCalibrateMetrics,
  fingerprint: (options) => torchFingerprint({ device: options.device }),
  cpuKernels: torchCpuKernels,
  // The data file, so that labels fitting none of the model's classes are reported at their lines.
  sources(options, recipe): Record<string, SourceRef> {
    const file = recipe.data[options.data];
    return file ? { labels: file } : {};
  },
  async run(options, inputs, sources, ctx) {
    // Labels mapped here with the one mapping (src/data/labels.ts): the worker scores with indices.
    const labels = { [options.data]: await datasetLabelIndices(inputs.datasets!.path, options.data, join(inputs.state!.path, 'hf'), sources.labels) };
    const metrics = await runWorker(
      'calibrate',
      { ...options, bins: options.bins ?? null, labels, stateDir: inputs.state!.path, datasetsDir: inputs.datasets!.path, outDir: resolve(ctx.outDir, STATE_DIR) },
      ctx,
    );
    return { metrics };
  },
};

export default torchCalibrate;
