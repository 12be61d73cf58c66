// recipes/bert-int8-qat.yaml through the real CLI on this machine, which has no torch: the plan
// works, and the run stops at torch.load with TOOL_MISSING and the hint (after hf.load ran). The
// recipe's successful run is on the GPU machine (scripts/device/run-qat.sh).
import { describe, expect, it } from 'vitest';
import { qrun, tempDir } from '../../tests/helpers/cli.ts';

const RECIPE = 'recipes/bert-int8-qat.yaml';

describe('qrun recipes/bert-int8-qat.yaml without torch', () => {
  const cache = tempDir();

  it('plans every step', async () => {
    const r = await qrun(['plan', RECIPE, '--cache', cache], { env: { QRUN_PYTHON: '/nonexistent' } });
    expect(r.exitCode).toBe(0);
    for (const step of ['torch.load', 'torch.patch', 'torch.calibrate', 'torch.qat', 'torch.export', 'bench']) expect(r.stdout).toContain(step);
  });

  it('QRUN_PYTHON=/nonexistent: fails at torch.load with TOOL_MISSING and the install hint', async () => {
    const r = await qrun([RECIPE, '--cache', cache], { env: { QRUN_PYTHON: '/nonexistent' } });
    expect(r.exitCode).toBe(1);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/error TOOL_MISSING: step "torch" \(torch\.load\) failed: Python not found: QRUN_PYTHON=\/nonexistent is not an executable file/);
    expect(out).toMatch(/hint: install PyTorch and transformers \(pip install torch transformers\) or set QRUN_PYTHON=\/path\/to\/python with them; steps already done and kept in the cache: load/);
  });
});
