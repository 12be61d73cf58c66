// What the torch.* plugins share: the torch-state artifact, the device option, the fingerprint
// (Python and package versions from the probe, and the device that will run), and one call into
// the worker with the TOOL_MISSING check first.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StepContext } from '../../src/engine/plugin.ts';
import { checkPython, probePython, requirePython } from './python.ts';
import { callWorker } from './worker-client.ts';
import { WORKER_DIR } from './worker-dir.ts';

/** Folder name of the torch-state output (layout: qrun_worker/state.py). */
export const STATE_DIR = 'state';

export type Device = 'auto' | 'cpu' | 'cuda';

export const deviceSchema = {
  enum: ['auto', 'cpu', 'cuda'],
  default: 'auto',
  description: 'where torch runs: auto = the GPU when torch sees one, else the CPU',
};

export interface AstRuleInfo {
  name: string;
  version: string;
  kind: 'quantize' | 'compatibility';
  description: string;
}

/** The worker's AST rules (qrun_worker/rules.json, read by both sides). */
export const AST_RULES: AstRuleInfo[] = JSON.parse(readFileSync(join(WORKER_DIR, 'qrun_worker', 'rules.json'), 'utf8'));

const BASE_PACKAGES = ['torch', 'transformers'];

/**
 * Tool versions for the cache key. A missing Python or torch does not throw here (plan and
 * dry-run still work); run() then fails with the TOOL_MISSING error.
 */
export async function torchFingerprint(options: { device?: Device; extraPackages?: string[] } = {}): Promise<Record<string, unknown>> {
  const needs = [...BASE_PACKAGES, ...(options.extraPackages ?? [])];
  const checked = checkPython(await probePython(), needs);
  if ('error' in checked) return { python: `unavailable: ${checked.error.message}` };
  const { info } = checked;
  const out: Record<string, unknown> = { python: info.python };
  for (const pkg of needs) out[pkg] = info.packages[pkg]?.version;
  if (options.device) {
    // Results on a GPU differ in the last bits from the CPU's, and between GPU models.
    const torch = info.packages.torch!;
    const gpu = options.device !== 'cpu' && torch.device ? torch.device : undefined;
    out.device = gpu ? `cuda ${torch.cuda ?? ''} ${gpu}`.replace(/\s+/g, ' ') : options.device === 'cuda' ? 'cuda (not available)' : 'cpu';
  }
  return out;
}

/**
 * PyTorch picks its CPU kernels (oneDNN, FBGEMM) by instruction set, as onnxruntime does; qrun's
 * import scan sees only the worker's Python files, not torch, so the torch plugins say it themselves.
 */
export const torchCpuKernels = () => ({ dependent: true, why: 'PyTorch in the worker picks CPU kernels (oneDNN, FBGEMM) by instruction set' });

export async function runWorker(
  method: string,
  params: Record<string, unknown>,
  ctx: StepContext,
  extraPackages: string[] = [],
): Promise<Record<string, unknown>> {
  const python = await requirePython([...BASE_PACKAGES, ...extraPackages]);
  ctx.emit({ type: 'progress', message: `starting the torch worker (${python.executable}, Python ${python.python}, torch ${python.packages.torch?.version})` });
  return callWorker({ python: python.executable, method, params, ctx });
}
