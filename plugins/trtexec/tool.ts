// Finding trtexec and describing the machine an engine is built for. A TensorRT engine is specific
// to the TensorRT version and the GPU model it was built with (TensorRT developer guide, "Engine
// compatibility"), so both go into the step's fingerprint and thereby its cache key.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { execa } from 'execa';
import { parseTensorrtVersion } from './summary.ts';

export interface LocatedTool {
  /** Absolute path of the executable, or undefined when it was not found. */
  path?: string;
  /** Where we looked: the option, $QRUN_TRTEXEC or PATH (names the fix in a skip). */
  source: 'option' | 'QRUN_TRTEXEC' | 'PATH';
  /** What we looked for: the configured path, or the bare name searched on PATH. */
  wanted: string;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Searches PATH the way a shell does (Windows: with the PATHEXT extensions). */
export async function whichOnPath(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const dirs = (env.PATH ?? env.Path ?? '').split(delimiter).filter(Boolean);
  const exts = process.platform === 'win32' ? (env.PATHEXT ?? '.EXE;.BAT;.CMD').split(';') : [''];
  for (const dir of dirs) {
    for (const ext of exts) {
      const candidate = join(dir, name + ext);
      if (await isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}

/** The trtexec option wins, then $QRUN_TRTEXEC, then `trtexec` on PATH. */
export async function locateTrtexec(option: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<LocatedTool> {
  const configured = option !== undefined ? { source: 'option' as const, wanted: option } : env.QRUN_TRTEXEC ? { source: 'QRUN_TRTEXEC' as const, wanted: env.QRUN_TRTEXEC } : undefined;
  if (configured) {
    // An absolute path is taken as is; a bare name ("trtexec-10.6") is looked up on PATH. Relative
    // paths are refused by the schema: fingerprint() has no recipe folder to resolve them from.
    const path = isAbsolute(configured.wanted) ? configured.wanted : await whichOnPath(configured.wanted, env);
    return { ...configured, path: path && (await isExecutable(path)) ? path : undefined };
  }
  return { source: 'PATH', wanted: 'trtexec', path: await whichOnPath('trtexec', env) };
}

/**
 * TensorRT's version from `trtexec --help`: every trtexec run starts with the banner
 * `&&&& RUNNING TensorRT.trtexec [TensorRT v100600] ...`, and --help touches no GPU.
 */
export async function tensorrtVersionOf(trtexec: string): Promise<string> {
  const result = await execa(trtexec, ['--help'], { reject: false, all: true, timeout: 30_000, stdin: 'ignore' });
  return parseTensorrtVersion(result.all ?? '') ?? 'unknown';
}

/** The device trtexec builds on: --device=N from the extra arguments, else 0 (trtexec's default). */
export function deviceIndex(extraArgs: string[]): number {
  for (const a of extraArgs) {
    const m = /^--device=(\d+)$/.exec(a);
    if (m) return Number(m[1]);
  }
  return 0;
}

/** GPU names from nvidia-smi, one per device; undefined where nvidia-smi is absent or fails. */
export async function gpuNames(): Promise<string[] | undefined> {
  const smi = await whichOnPath('nvidia-smi');
  if (!smi) return undefined;
  const r = await execa(smi, ['--query-gpu=name', '--format=csv,noheader'], { reject: false, timeout: 30_000, stdin: 'ignore' });
  if (r.exitCode !== 0) return undefined;
  return String(r.stdout).split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
}
