// patch — runtime graph patches: named, versioned rules, each of which changes the graph or says
// why it did not apply. A model no rule matches is written back byte-identical.
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Plugin } from '../../src/engine/plugin.ts';
import { encodeModel, readModel } from '../../src/onnx/model-io.ts';
import { RULES, RULE_NAMES } from './rules/index.ts';

export interface PatchOptions {
  rules: string[];
}

const patch: Plugin<PatchOptions> = {
  name: 'patch',
  version: `1.0.0+${RULES.map((r) => `${r.name}@${r.version}`).join(',')}`,
  description: 'Apply named graph rewrites (TensorRT compatibility, clean-ups)',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      rules: { type: 'array', items: { enum: RULE_NAMES }, uniqueItems: true, default: RULE_NAMES },
    },
  },
  inputs: { model: { kind: 'onnx-model' } },
  outputs: { model: { kind: 'onnx-model', path: 'model.onnx' } },
  async run(options, inputs, _sources, ctx) {
    const model = await readModel(inputs.model!.path);
    const results: Record<string, string> = {};
    let changed = 0;
    for (const name of options.rules) {
      const rule = RULES.find((r) => r.name === name)!;
      const outcome = rule.apply(model);
      results[name] = outcome.applied ? `applied: ${outcome.detail}` : `not applied: ${outcome.reason}`;
      if (outcome.applied) changed += outcome.changes;
      ctx.emit({ type: 'log', level: 'info', message: `${name}: ${results[name]}` });
    }
    const out = join(ctx.outDir, 'model.onnx');
    if (changed === 0) await copyFile(inputs.model!.path, out);
    else await writeFile(out, encodeModel(model));
    return { metrics: { rules: results, changes: changed } };
  },
};

export default patch;
