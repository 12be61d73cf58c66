// torch.load — the Hugging Face model from the local model directory, through transformers'
// own class for it (config.json `architectures`), with eager attention; saved as a torch-state.
import { resolve } from 'node:path';
import { errors } from '../../src/errors.ts';
import type { Plugin, SourceRef } from '../../src/engine/plugin.ts';
import { STATE_DIR, runWorker, torchCpuKernels, torchFingerprint } from './common.ts';
import { torchLoadMetrics } from './metrics.ts';

export interface TorchLoadOptions {
  /** Model directory, overriding the recipe's `model:` (relative to the recipe). */
  model?: string;
  /** transformers class to load with; default config.json's `architectures[0]`. */
  architecture?: string;
}

const torchLoad: Plugin<TorchLoadOptions> = {
  name: 'torch.load',
  version: '1.0.0',
  description: 'Load the Hugging Face model with PyTorch and transformers (the torch worker)',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      model: { type: 'string', minLength: 1, description: "Model directory, relative to the recipe; overrides the recipe's `model:`.", examples: ['../models/bert-langid'] },
      architecture: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: "The transformers class to load with; default: config.json's `architectures[0]`.", examples: ['BertForSequenceClassification'] },
    },
  },
  inputs: {},
  outputs: { state: { kind: 'torch-state', path: STATE_DIR, description: 'hf/ weights and state.json' } },
  metrics: torchLoadMetrics,
  sources(options, recipe) {
    const out: Record<string, SourceRef> = {};
    if (options.model) out.model = { path: resolve(recipe.dir, options.model) };
    else if (recipe.model) out.model = recipe.model;
    else throw errors.usage(`${recipe.file}: torch.load needs a model: set \`model:\` at the top of the recipe or \`with: { model: DIR }\``);
    return out;
  },
  fingerprint: () => torchFingerprint(),
  cpuKernels: torchCpuKernels,
  async run(options, _inputs, sources, ctx) {
    const metrics = await runWorker('load', { modelDir: sources.model, outDir: resolve(ctx.outDir, STATE_DIR), architecture: options.architecture ?? null }, ctx);
    return { metrics };
  },
};

export default torchLoad;
