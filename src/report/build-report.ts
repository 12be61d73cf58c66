// report.json: everything needed to reproduce and audit a run. Paths are relative (to the cache
// root or the working directory) so two machines produce comparable reports; only timings,
// timestamps and the run id differ between two runs of the same recipe on the same inputs.
import { cpus, totalmem, platform, arch, release } from 'node:os';
import { relative } from 'node:path';
import type { StepRecord } from '../engine/executor.ts';
import type { DeliverablesSection } from '../engine/deliverables-select.ts';
import type { Gate, Recipe } from '../recipe/recipe.ts';
import { gateHolds } from '../recipe/gate-condition.ts';
import { ORT_VERSION } from '../runtime/session.ts';
import { QRUN_VERSION } from '../version.ts';

export interface GateResult {
  metric: string;
  op: string;
  value: number;
  actual: number | null;
  pass: boolean;
  /** The gate's step did not run in this invocation (--until / --only). */
  notEvaluated?: boolean;
}

/**
 * The run's verdict, the one word report.json, report.md, report.html, JUnit and the terminal all
 * lead with. Worst first; the exit code follows it (interrupted 130/143, failed 1, gates-failed and
 * regressed 3, passed 0):
 * - interrupted: SIGINT or SIGTERM stopped the run before its steps finished (run.signal says which);
 * - failed: a step failed, or qrun could not finish the run (e.g. its disk was full);
 * - gates-failed: every step finished and at least one gate failed;
 * - regressed: every step finished, every gate passed, and --baseline found a regression;
 * - passed: every step finished, every gate evaluated passed (a recipe without gates passes on its steps).
 * Reports written before this field was spelled out say 'ok' for any finished run, failed gates or not.
 */
export type RunStatus = 'interrupted' | 'failed' | 'gates-failed' | 'regressed' | 'passed';

/** What --baseline compared (run.status is 'regressed' when `regressions` is not empty). */
export interface BaselineResult {
  /** The baseline report.json, relative to the working directory. */
  file: string;
  /** Metrics compared. */
  compared: number;
  regressions: { name: string; change: string }[];
  /** Every metric compared, as `qrun compare` prints it: the report shows the whole comparison, not only what regressed. */
  metrics?: { name: string; before: string; after: string; change: string; verdict: string; regression: boolean }[];
}

export interface Report {
  schemaVersion: 1;
  qrun: { version: string };
  recipe: { file: string; name: string; hash: string; resolved: Record<string, unknown>; variant?: { label: string; values: Record<string, string | number | boolean> } };
  run: { id: string; startedAt: string; finishedAt: string; durationMs: number; status: RunStatus; signal?: string; resumedFrom?: string; error?: string; peakRssMiB?: number };
  machine: { platform: string; arch: string; release: string; cpu: string; cores: number; memoryGiB: number; node: string };
  tools: Record<string, string>;
  steps: (Omit<StepRecord, 'outputs'> & { outputs: Record<string, { kind: string; sha256: string; size: number; path: string }> })[];
  gates: GateResult[];
  baseline?: BaselineResult;
  /** Where the deliverables are (src/engine/deliverables.ts), relative to the recipe's folder. */
  deliverables?: DeliverablesSection;
  cache: { root: string; hits: number; ran: number; skipped: number; failed: number };
}

/** The verdict of a run from what happened, worst first (see RunStatus). */
export function runStatus(outcome: { interrupted: boolean; failed: boolean; gates: GateResult[]; regressions?: number }): RunStatus {
  if (outcome.interrupted) return 'interrupted';
  if (outcome.failed) return 'failed';
  if (outcome.gates.some((g) => !g.pass && !g.notEvaluated)) return 'gates-failed';
  if (outcome.regressions) return 'regressed';
  return 'passed';
}

export function metricAt(steps: StepRecord[], path: string): number | null {
  const [stepId, ...rest] = path.split('.');
  const step = steps.find((s) => s.id === stepId);
  let v: unknown = step?.metrics;
  for (const k of rest) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return typeof v === 'number' ? v : null;
}

export function evaluateGates(gates: Gate[], steps: StepRecord[]): GateResult[] {
  return gates.map((g) => {
    const step = steps.find((s) => s.id === g.metric.split('.')[0]);
    // A gate on a step this invocation did not reach (--until, --only) is not evaluated.
    if (step?.status === 'not-run') return { metric: g.metric, op: g.op, value: g.value, actual: null, pass: true, notEvaluated: true };
    const actual = metricAt(steps, g.metric);
    const pass = actual !== null && gateHolds(g.op, actual, g.value);
    return { metric: g.metric, op: g.op, value: g.value, actual, pass };
  });
}

export function buildReport(args: {
  recipe: Recipe;
  runId: string;
  startedAt: Date;
  finishedAt: Date;
  status: RunStatus;
  /** The signal that interrupted the run. */
  signal?: string;
  error?: string;
  resumedFrom?: string;
  steps: StepRecord[];
  gates: GateResult[];
  cacheRoot: string;
}): Report {
  const cwd = process.cwd();
  const c = cpus();
  return {
    schemaVersion: 1,
    qrun: { version: QRUN_VERSION },
    recipe: { file: relative(cwd, args.recipe.file), name: args.recipe.name, hash: args.recipe.hash, resolved: args.recipe.raw, ...(args.recipe.variant ? { variant: args.recipe.variant } : {}) },
    run: {
      id: args.runId,
      startedAt: args.startedAt.toISOString(),
      finishedAt: args.finishedAt.toISOString(),
      durationMs: args.finishedAt.getTime() - args.startedAt.getTime(),
      status: args.status,
      ...(args.signal ? { signal: args.signal } : {}),
      // Peak resident memory of the whole qrun process (maxRSS is in KiB on Linux).
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
      ...(args.resumedFrom ? { resumedFrom: args.resumedFrom } : {}),
      ...(args.error ? { error: args.error } : {}),
    },
    machine: { platform: platform(), arch: arch(), release: release(), cpu: c[0]?.model ?? 'unknown', cores: c.length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    tools: { 'onnxruntime-node': ORT_VERSION, node: process.version },
    steps: args.steps.map((s) => ({
      ...s,
      outputs: Object.fromEntries(Object.entries(s.outputs).map(([k, o]) => [k, { ...o, path: relative(args.cacheRoot, o.path) }])),
    })),
    gates: args.gates,
    cache: {
      root: relative(cwd, args.cacheRoot) || '.',
      hits: args.steps.filter((s) => s.status === 'hit').length,
      ran: args.steps.filter((s) => s.status === 'ran').length,
      skipped: args.steps.filter((s) => s.status === 'skipped').length,
      failed: args.steps.filter((s) => s.status === 'failed').length,
    },
  };
}
