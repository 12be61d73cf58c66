// Where inference time goes, by operator, from onnxruntime's own profiler: the evidence for what
// stands between an INT8/FP32 ratio and its target (which kernels dominate, and how the int8 GEMM
// compares with the float one it replaces).
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type ort from 'onnxruntime-node';
import { createSession } from '../src/runtime/session.ts';

export interface KernelTimes {
  /** Mean model_run time (ms) over the profiled runs. */
  runMs: number;
  /** Mean kernel time (ms) per run, by operator type (domain-qualified for contrib ops). */
  byOp: Map<string, number>;
}

/** Profiles `runs` runs (after `warmup`) of the model on `feeds`; the profile file is removed afterwards. */
export async function kernelTimes(model: string, feeds: Record<string, ort.Tensor>, dir: string, label: string, runs = 5, warmup = 2): Promise<KernelTimes> {
  const prefix = join(dir, `profile-${label}`);
  const session = await createSession(model, { profileFilePrefix: prefix });
  try {
    for (let i = 0; i < warmup + runs; i++) await session.run(feeds);
  } finally {
    session.endProfiling();
    await session.release();
  }
  const file = readdirSync(dir).filter((f) => f.startsWith(`profile-${label}`) && f.endsWith('.json')).sort().pop();
  if (!file) throw new Error(`onnxruntime wrote no profile for ${label} in ${dir}`);
  const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
  rmSync(join(dir, file));
  // The profile holds every run, warm-up included: keep the last `runs` model_run spans and the
  // kernels inside them.
  const spans = events.filter((e) => e.name === 'model_run').slice(-runs) as unknown as { ts: number; dur: number }[];
  const inside = (ts: number) => spans.some((s) => ts >= s.ts && ts <= s.ts + s.dur);
  const byOp = new Map<string, number>();
  for (const e of events as unknown as { cat: string; name: string; dur: number; ts: number; args?: { op_name?: string } }[]) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || !inside(e.ts)) continue;
    const op = e.args?.op_name ?? '?';
    byOp.set(op, (byOp.get(op) ?? 0) + e.dur / 1000 / runs);
  }
  const runMs = spans.reduce((a, s) => a + s.dur, 0) / 1000 / Math.max(1, spans.length);
  return { runMs, byOp };
}
