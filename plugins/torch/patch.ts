// torch.patch — AST rules applied to the model's modeling module (e.g. transformers'
// modeling_bert.py) in memory: fake quantizers around nn.Linear inputs/weights and the attention
// matmuls, and named compatibility rewrites. The module is compiled into a fresh module object and
// the original is put back after the model is built; later steps re-apply the same rules from the
// state. The output holds the patched source (patched/*.py) for reading.
import { resolve } from 'node:path';
import type { Plugin } from '../../src/engine/plugin.ts';
import { AST_RULES, STATE_DIR, runWorker, torchCpuKernels, torchFingerprint } from './common.ts';
import { torchPatchMetrics } from './metrics.ts';

export interface TorchPatchOptions {
  rules: string[];
  /** Regular expressions (Python syntax) over module names whose quantizers stay off, e.g. "classifier$". */
  exclude: string[];
}

const RULE_NAMES = AST_RULES.map((r) => r.name);

const torchPatch: Plugin<TorchPatchOptions> = {
  name: 'torch.patch',
  version: `1.0.0+${AST_RULES.map((r) => `${r.name}@${r.version}`).join(',')}`,
  description: 'Patch the modeling source through its AST: fake quantizers and compatibility rewrites, original restored after use',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      rules: {
        type: 'array',
        items: { enum: RULE_NAMES },
        uniqueItems: true,
        minItems: 1,
        default: RULE_NAMES,
        description: `AST rules applied to the modeling source. ${AST_RULES.map((r) => `${r.name}: ${r.description}.`).join(' ')}`,
        examples: [['quantize-linear']],
      },
      exclude: {
        type: 'array',
        items: { type: 'string', minLength: 1 },
        uniqueItems: true,
        default: [],
        description: 'regular expressions (Python syntax) searched in module names whose quantizers stay off: those layers stay in float',
        examples: [['classifier$']],
      },
    },
  },
  inputs: { state: { kind: 'torch-state' } },
  outputs: { state: { kind: 'torch-state', path: STATE_DIR } },
  metrics: torchPatchMetrics,
  fingerprint: () => torchFingerprint(),
  cpuKernels: torchCpuKernels,
  async run(options, inputs, _sources, ctx) {
    for (const p of options.exclude) {
      try {
        new RegExp(p);
      } catch (e) {
        throw new Error(`exclude pattern ${JSON.stringify(p)} is not a regular expression: ${(e as Error).message}`);
      }
    }
    const metrics = await runWorker('patch', { stateDir: inputs.state!.path, outDir: resolve(ctx.outDir, STATE_DIR), rules: options.rules, exclude: options.exclude }, ctx);
    return { metrics };
  },
};

export default torchPatch;
