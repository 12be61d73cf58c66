// Runs the real qrun binary (bin/qrun.js) in a child process, as a user would.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type Options, type ResultPromise } from 'execa';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const QRUN_BIN = join(REPO, 'bin', 'qrun.js');

export function tempDir(prefix = 'qrun-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface QrunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export function startQrun(args: string[], options: Options = {}): ResultPromise {
  return execa(process.execPath, [QRUN_BIN, ...args], {
    cwd: REPO,
    reject: false,
    env: { CI: 'true', PATH: process.env.PATH, ...(options.env ?? {}) },
    extendEnv: false,
    ...options,
  } as Options) as ResultPromise;
}

export async function qrun(args: string[], options: Options = {}): Promise<QrunResult> {
  const r = await startQrun(args, options);
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}
