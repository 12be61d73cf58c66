// hf.load on a checkpoint without ONNX: the model output is absent with a reason, and a recipe
// with onnx.export after it runs with no Python anywhere.
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qrun, REPO, tempDir } from '../../tests/helpers/cli.ts';
import { latestReport, step } from '../../tests/helpers/report.ts';
import { modelFiles, writeHubRepo } from '../../tests/helpers/hf-hub-cache.ts';

function checkpointWithoutOnnx(): string {
  const dir = join(tempDir(), 'model');
  cpSync(join(REPO, 'models/bert-langid'), dir, { recursive: true });
  rmSync(join(dir, 'onnx'), { recursive: true });
  return dir;
}

const recipe = (model: string, withExport: boolean) => `name: no-onnx
model: ${model}
data: { calibration: ${join(REPO, 'data/langid/calib.jsonl')} }
steps:
  - { id: load, uses: hf.load }
${withExport ? '  - { id: export, uses: onnx.export }\n' : ''}  - { id: qdq, uses: qdq.insert }
  - { id: calibrate, uses: calibrate, with: { method: minmax } }
`;

describe('hf.load without an ONNX file', () => {
  it('tells the user to add onnx.export when a later step needs the model', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'r.yaml'), recipe(checkpointWithoutOnnx(), false));
    const r = await qrun([join(dir, 'r.yaml'), '--cache', join(dir, 'c')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('step "qdq" needs "load.model", which step "load" did not produce this time');
    expect(r.stderr).toMatch(/hint: .*has no ONNX file .*add an `onnx.export` step after hf.load/);
  });

  it('with onnx.export after it, the recipe runs from safetensors alone', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'r.yaml'), recipe(checkpointWithoutOnnx(), true));
    const r = await qrun([join(dir, 'r.yaml'), '--cache', join(dir, 'c')]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const { report } = latestReport(join(dir, 'c'));
    expect(step(report, 'load').outputs.model).toBeUndefined();
    expect((step(report, 'qdq').metrics as { quantizedNodes: number }).quantizedNodes).toBe(34);
  });
});

describe('hub ids through the local Hugging Face cache', () => {
  const commit = 'a'.repeat(40);
  // As huggingface_hub lays it out: blobs/, refs/main, and snapshots/<commit>/ made of relative links.
  function fakeCache(): string {
    const home = tempDir();
    const model = join(REPO, 'models/bert-langid');
    writeHubRepo(join(home, 'hub'), 'qrun/bert-langid', commit, modelFiles(model, ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt', 'model.safetensors', 'onnx/model.onnx']));
    return home;
  }

  it('`model: org/name` resolves to the cached snapshot; the revision is in the report', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'r.yaml'), `name: hub\nmodel: qrun/bert-langid\nsteps:\n  - { id: load, uses: hf.load }\n`);
    const r = await qrun([join(dir, 'r.yaml'), '--cache', join(dir, 'c')], { env: { HF_HOME: fakeCache() } });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const { report } = latestReport(join(dir, 'c'));
    expect(step(report, 'load').metrics).toMatchObject({ hubId: 'qrun/bert-langid', revision: commit, modelType: 'bert' });
  });

  it('a hub id that is not in the cache is a recipe error with the fix; nothing is downloaded', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'r.yaml'), `name: hub\nmodel: qrun/not-cached\nsteps:\n  - { id: load, uses: hf.load }\n`);
    const r = await qrun([join(dir, 'r.yaml'), '--cache', join(dir, 'c')], { env: { HF_HOME: fakeCache() } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/r\.yaml:2:8: error MODEL_NOT_FOUND: "qrun\/not-cached" is not a local folder and not in the Hugging Face cache/);
    expect(r.stderr).toMatch(/hint: download it on a connected machine \(huggingface-cli download qrun\/not-cached\)/);
  });
});
