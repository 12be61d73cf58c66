// onnx.export of a decoder through the real CLI: a GPT-2 config with random weights becomes a
// model.onnx whose KV-cache inputs and outputs `qrun inspect` lists, and a config.json option the
// exporter does not implement fails the run (exit 1) with the file, the key and a hint.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qrun, tempDir } from '../helpers/cli.ts';

const GPT2 = { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: 61, n_embd: 16, n_layer: 2, n_head: 2, n_positions: 32 };

function recipeFor(dir: string, config: Record<string, unknown>): string {
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const file = join(dir, 'recipe.yaml');
  writeFileSync(file, 'version: 1\nname: decoder\nsteps:\n  - id: export\n    uses: onnx.export\n    with: { weights: random, config: config.json }\n');
  return file;
}

describe('decoder export through the CLI', () => {
  it('a GPT-2 config → model.onnx with past_key_values inputs and present outputs, as qrun inspect shows', async () => {
    const dir = tempDir();
    const run = await qrun([recipeFor(dir, GPT2), '--cache', join(dir, 'c'), '--out', join(dir, 'out')]);
    expect(run.exitCode, run.stderr).toBe(0);
    const inspect = await qrun(['inspect', join(dir, 'out', 'model.onnx')]);
    expect(inspect.exitCode, inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(/opset 21/);
    expect(inspect.stdout).toMatch(/input\s+attention_mask\s+int64\s+\[batch, total_sequence\]/);
    expect(inspect.stdout).toMatch(/input\s+past_key_values\.1\.value\s+float\s+\[batch, 2, past_sequence, 8\]/);
    expect(inspect.stdout).toMatch(/output\s+logits\s+float\s+\[batch, sequence, 61\]/);
    expect(inspect.stdout).toMatch(/output\s+present\.0\.key\s+float\s+\[batch, 2, total_sequence, 8\]/);
    expect(inspect.stdout).toContain('/lm_head/MatMul');
  });

  it('an unsupported option (YaRN rope scaling) fails with exit 1, naming config.json and the key', async () => {
    const dir = tempDir();
    const bad = { model_type: 'llama', architectures: ['LlamaForCausalLM'], hidden_size: 16, num_attention_heads: 2, num_hidden_layers: 1, intermediate_size: 32, vocab_size: 50, rope_scaling: { rope_type: 'yarn', factor: 8 } };
    const run = await qrun([recipeFor(dir, bad), '--cache', join(dir, 'c')]);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain(`${join(dir, 'config.json')}: error EXPORT_CONFIG_UNSUPPORTED`);
    expect(run.stderr).toContain('"rope_scaling.rope_type" is "yarn"');
    expect(run.stderr).toContain('hint: ');
  });
});
