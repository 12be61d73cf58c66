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
 * TensorRT's version from the trtexec binary. Every trtexec run starts with the banner
 * `&&&& RUNNING TensorRT.trtexec [TensorRT v100600] ...` before it parses its arguments, and
 * neither `--version` nor `--help` touches a GPU; a trtexec without `--version` still prints the
 * banner (and then fails), so `--help` is only the second try.
 */
export async function tensorrtVersionOf(trtexec: string): Promise<string> {
  for (const flag of ['--version', '--help']) {
    const result = await execa(trtexec, [flag], { reject: false, all: true, timeout: 30_000, stdin: 'ignore' });
    const version = parseTensorrtVersion(result.all ?? '');
    if (version) return version;
  }
  return 'unknown';
}

/** The device trtexec builds on: --device=N from the extra arguments, else 0 (trtexec's default). */
export function deviceIndex(extraArgs: string[]): number {
  for (const a of extraArgs) {
    const m = /^--device=(\d+)$/.exec(a);
    if (m) return Number(m[1]);
  }
  return 0;
}

/** One row of `nvidia-smi --query-gpu=index,uuid,name,compute_cap`. */
export interface GpuInfo {
  index: number;
  uuid: string;
  name: string;
  /** e.g. "9.0"; undefined where the driver cannot report it (drivers before 510 lack the field). */
  computeCapability?: string;
}

/** `0, GPU-5a3c…, NVIDIA H100 80GB HBM3, 9.0` lines → GpuInfo (GPU names hold no commas). */
export function parseGpuQuery(stdout: string): GpuInfo[] {
  return stdout
    .split(/\r?\n/)
    .map((l) => l.split(',').map((f) => f.trim()))
    .filter((f) => f.length >= 3 && /^\d+$/.test(f[0]!))
    .map(([index, uuid, name, cc]) => ({
      index: Number(index),
      uuid: uuid!,
      name: name!,
      ...(cc && /^\d+\.\d+$/.test(cc) ? { computeCapability: cc } : {}),
    }));
}

/** Every GPU nvidia-smi sees; undefined where nvidia-smi is absent or fails. */
export async function queryGpus(env: NodeJS.ProcessEnv = process.env): Promise<GpuInfo[] | undefined> {
  const smi = await whichOnPath('nvidia-smi', env);
  if (!smi) return undefined;
  // compute_cap is a query field since driver 510; an older driver rejects the whole query. The
  // first query on a freshly started machine once printed nothing (exit 0) on an H100, so an empty
  // answer is asked again before falling back to the query without compute_cap.
  for (const fields of ['index,uuid,name,compute_cap', 'index,uuid,name,compute_cap', 'index,uuid,name']) {
    const r = await execa(smi, [`--query-gpu=${fields}`, '--format=csv,noheader'], { reject: false, timeout: 30_000, stdin: 'ignore' });
    if (r.exitCode === 0) {
      const gpus = parseGpuQuery(String(r.stdout));
      if (gpus.length > 0) return gpus;
    }
  }
  return undefined;
}

/** A GPU model as it goes into the key and the report: `NVIDIA H100 80GB HBM3 (sm 9.0)`. */
export function gpuModel(gpu: { name: string; computeCapability?: string }): string {
  return `${gpu.name} (sm ${gpu.computeCapability ?? '?'})`;
}

export interface DeviceChoice {
  /** The GPU that CUDA device `index` most likely is. */
  gpu?: GpuInfo;
  /**
   * Whether nvidia-smi's numbering is surely CUDA's: CUDA orders devices fastest first unless
   * CUDA_DEVICE_ORDER=PCI_BUS_ID (nvidia-smi's order), so on a machine with mixed GPU models an
   * index alone does not say which model trtexec will use. A UUID in CUDA_VISIBLE_DEVICES does.
   */
  sure: boolean;
}

/** Which of nvidia-smi's GPUs CUDA device `index` is, honouring CUDA_VISIBLE_DEVICES. */
export function selectGpu(gpus: GpuInfo[], index: number, env: NodeJS.ProcessEnv = process.env): DeviceChoice {
  const models = new Set(gpus.map(gpuModel));
  let sure = models.size <= 1 || env.CUDA_DEVICE_ORDER === 'PCI_BUS_ID';
  const visible = env.CUDA_VISIBLE_DEVICES?.trim();
  if (visible === undefined || visible === '') return { gpu: gpus[index], sure };
  const entry = visible.split(',')[index]?.trim();
  if (entry === undefined) return { sure: false };
  if (/^\d+$/.test(entry)) return { gpu: gpus.find((g) => g.index === Number(entry)), sure };
  const byUuid = entry.startsWith('GPU-') ? gpus.find((g) => g.uuid.startsWith(entry)) : undefined;
  if (byUuid) sure = true;
  return { gpu: byUuid, sure: byUuid ? sure : false };
}
