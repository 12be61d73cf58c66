// Finding the Python that runs the torch worker, and what it has. $QRUN_PYTHON wins (an absolute path,
// or a name looked up on PATH), else `python3` on PATH. The probe (qrun_worker/probe.py) reports the
// Python version and those of torch, transformers, onnx, …; it runs once per process and Python, and
// its result feeds every torch step's fingerprint (so a new torch re-runs the steps) and the
// TOOL_MISSING errors, which tell "no Python", "Python too old" and "Python without torch" apart.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { execa } from 'execa';
import type { QrunError } from '../../src/errors.ts';
import { torchErrors } from './errors.ts';
import { WORKER_DIR, workerEnv } from './worker-dir.ts';

export interface PackageInfo {
  version?: string;
  error?: string;
  /** torch only: CUDA version and the first device's name, when torch sees a GPU. */
  cuda?: string;
  device?: string;
}

export interface PythonInfo {
  executable: string;
  source: 'QRUN_PYTHON' | 'PATH';
  python: string;
  packages: Record<string, PackageInfo>;
}

export type ProbeOutcome = { ok: true; info: PythonInfo } | { ok: false; error: QrunError };

export const MIN_PYTHON: [number, number] = [3, 10];

async function isExecutable(file: string): Promise<boolean> {
  return access(file, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** The first executable `name` in PATH's folders, as a shell finds it. */
async function whichOnPath(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export async function locatePython(env: NodeJS.ProcessEnv = process.env): Promise<{ path?: string; wanted: string; source: 'QRUN_PYTHON' | 'PATH' }> {
  const configured = env.QRUN_PYTHON;
  if (configured) {
    const path = isAbsolute(configured) ? configured : await whichOnPath(configured, env);
    return { wanted: configured, source: 'QRUN_PYTHON', path: path && (await isExecutable(path)) ? path : undefined };
  }
  return { wanted: 'python3', source: 'PATH', path: await whichOnPath('python3', env) };
}

function atLeast(version: string, min: [number, number]): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > min[0] || (major === min[0] && minor >= min[1]);
}

async function runProbe(env: NodeJS.ProcessEnv): Promise<ProbeOutcome> {
  const located = await locatePython(env);
  if (!located.path) return { ok: false, error: torchErrors.pythonNotFound(located.wanted, located.source) };
  const executable = located.path;
  const r = await execa(executable, ['-m', 'qrun_worker.probe'], {
    env: workerEnv(env),
    extendEnv: false,
    cwd: WORKER_DIR,
    reject: false,
    timeout: 180_000,
    stdin: 'ignore',
  });
  if (r.failed && r.exitCode === undefined) {
    const why = r.timedOut ? 'it did not answer within 180 s' : r.code === 'EACCES' || r.code === 'ENOENT' ? `cannot start it (${r.code})` : String(r.shortMessage ?? r.message);
    return { ok: false, error: torchErrors.pythonBroken(executable, why) };
  }
  let parsed: { python?: string; packages?: Record<string, PackageInfo> } | undefined;
  try {
    parsed = JSON.parse(String(r.stdout).trim().split('\n').pop() ?? '');
  } catch {
    parsed = undefined;
  }
  if (r.exitCode !== 0 || !parsed?.python) {
    const tail = String(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ');
    return { ok: false, error: torchErrors.pythonBroken(executable, `exit code ${r.exitCode}${tail ? `: ${tail}` : ''}`) };
  }
  const info: PythonInfo = { executable, source: located.source, python: parsed.python, packages: parsed.packages ?? {} };
  return { ok: true, info };
}

const cache = new Map<string, Promise<ProbeOutcome>>();

/** The probe of the Python the environment selects; run once per process and selection. */
export function probePython(env: NodeJS.ProcessEnv = process.env): Promise<ProbeOutcome> {
  const key = `${env.QRUN_PYTHON ?? ''}\0${env.PATH ?? ''}`;
  let p = cache.get(key);
  if (!p) {
    p = runProbe(env);
    cache.set(key, p);
  }
  return p;
}

/**
 * The Python info when it can run the worker: Python ≥ 3.10 with every package in `needs`;
 * otherwise the TOOL_MISSING error that says what is missing.
 */
export function checkPython(outcome: ProbeOutcome, needs: string[] = ['torch', 'transformers']): { info: PythonInfo } | { error: QrunError } {
  if (!outcome.ok) return { error: outcome.error };
  const { info } = outcome;
  if (!atLeast(info.python, MIN_PYTHON)) return { error: torchErrors.pythonTooOld(info.executable, info.python) };
  for (const pkg of needs) {
    const p = info.packages[pkg];
    if (!p?.version) {
      const name = pkg === 'torch' ? 'PyTorch' : pkg;
      const hint = pkg === 'onnx' ? 'pip install onnx (the ONNX export writes and checks the graph with it), or set QRUN_PYTHON=/path/to/python with it' : undefined;
      return { error: torchErrors.packageMissing(name, info.executable, info.python, p?.error ?? 'not found', hint) };
    }
  }
  return { info };
}

/** Throws the TOOL_MISSING error, or returns the Python to run the worker with. */
export async function requirePython(needs?: string[], env: NodeJS.ProcessEnv = process.env): Promise<PythonInfo> {
  const checked = checkPython(await probePython(env), needs);
  if ('error' in checked) throw checked.error;
  return checked.info;
}

/** Forgets probes (tests). */
export function clearPythonProbes(): void {
  cache.clear();
}
