// What changed between two runs — run status, options, artifact digests, accuracy, INT8/FP32 latency
// with its noise, tool versions — and which of it is a regression. `qrun compare` prints it and
// `qrun run --baseline` puts it in the verdict: b did not pass, a metric a had is missing in b,
// accuracy dropped beyond the tolerance, or a latency ratio rose outside its noise and beyond the
// latency tolerance. The numbers compared are found by the roles plugins declare for them
// (src/engine/metrics.ts), not by plugin name.
import { readFile } from 'node:fs/promises';
import { errors } from '../errors.ts';
import type { Report } from './build-report.ts';
import { runPassed, runStatusText } from './run-passed.ts';
import { shiftBeyondNoise, type Measured } from '../stats/noise.ts';
import { canonicalJson } from '../util/hash.ts';
import type { LatencyRow } from '../engine/metric-shapes.ts';
import { builtinMetricCatalog } from '../engine/builtin-metrics.ts';
import { stepWithRole, valueWithRole, type MetricCatalog } from '../engine/metrics.ts';

export interface MetricChange {
  name: string;
  /** As printed; '—' when the report has no such metric. */
  before: string;
  after: string;
  /** '+0.10 pt', '1.03×', 'missing in b', 'new', 'passed → failed'. */
  change: string;
  /** 'REGRESSION', 'within noise', 'faster', 'slower, within tolerance', 'new', or '' (an accuracy change within tolerance). */
  verdict: string;
  regression: boolean;
}

export interface Comparison {
  /** The run status of each report, as `runStatusText` writes it, and whether the run passed. */
  status: { before: string; after: string; beforePassed: boolean; afterPassed: boolean };
  options: string[];
  artifacts: string[];
  tools: string[];
  metrics: MetricChange[];
}

export interface CompareOptions {
  /** Largest absolute drop of agreement / INT8 accuracy that is not a regression (0.02 = 2 points). */
  tolerance?: number;
  /** Largest relative rise of an INT8/FP32 latency ratio, outside its noise, that is not a regression. */
  latencyTolerance?: number;
  /** What messages call the second report ("b"; `--baseline` says "this run"). */
  afterName?: string;
  /** Whose declarations say which metric is the agreement, the accuracy, the latency table (default: the built-ins'). */
  catalog?: MetricCatalog;
}

export async function readReport(file: string, what = 'report'): Promise<Report> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw errors.reportNotFound(what, file);
  }
  try {
    const r = JSON.parse(text) as Report;
    if (r.schemaVersion !== 1 || !Array.isArray(r.steps) || typeof r.run?.status !== 'string') throw new Error('not a qrun report (schemaVersion 1)');
    return r;
  } catch (e) {
    throw errors.usage(`${file} is not a qrun report.json: ${(e as Error).message}`, 'pass the report.json of a run: .qrun/runs/<id>/report.json');
  }
}

/** The task's numbers compared, by the role their plugin declares for them (the bench's, built in). */
interface TaskNumbers {
  agreement?: unknown;
  int8Accuracy?: unknown;
  latency?: LatencyRow[];
}

/** The step that reports the task's numbers, whatever its status: what "missing" points at. */
const measuringStep = (r: Report, catalog: MetricCatalog) => (stepWithRole(r.steps, catalog, 'agreement') ?? stepWithRole(r.steps, catalog, 'latency'))?.step;
const taskNumbers = (r: Report, catalog: MetricCatalog): TaskNumbers => ({
  agreement: valueWithRole(r.steps, catalog, 'agreement'),
  int8Accuracy: valueWithRole(r.steps, catalog, 'accuracy'),
  latency: valueWithRole(r.steps, catalog, 'latency') as LatencyRow[] | undefined,
});
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

const fixed = (digits: number) => (x: number) => x.toFixed(digits);
const ratioText = (l: LatencyRow) => `${l.ratio.toFixed(3)}${l.ratioInterval ? ` [${l.ratioInterval.low.toFixed(3)}–${l.ratioInterval.high.toFixed(3)}]` : ''}`;

/**
 * b against a. Regressions: b did not pass; a metric of a missing in b; agreement or INT8 accuracy
 * lower by more than `tolerance` (absolute); an INT8/FP32 latency ratio whose interval lies wholly
 * above a's (outside the noise both runs measured) and that rose by more than `latencyTolerance`
 * (relative). Reports without intervals (from before qrun measured its noise) fall back to the
 * tolerance alone, and say "no noise estimate".
 */
export function compareReports(a: Report, b: Report, options: CompareOptions = {}): Comparison {
  const tolerance = options.tolerance ?? 0.02;
  const latencyTolerance = options.latencyTolerance ?? 0.2;
  const bName = options.afterName ?? 'b';
  const out: Comparison = {
    status: { before: runStatusText(a), after: runStatusText(b), beforePassed: runPassed(a), afterPassed: runPassed(b) },
    options: [],
    artifacts: [],
    tools: [],
    metrics: [],
  };
  for (const sb of b.steps) {
    const sa = a.steps.find((s) => s.id === sb.id);
    if (!sa) {
      out.options.push(`${sb.id}: new step (${sb.plugin})`);
      continue;
    }
    if (canonicalJson(sa.options) !== canonicalJson(sb.options)) {
      for (const k of [...new Set([...Object.keys(sa.options), ...Object.keys(sb.options)])].sort()) {
        if (canonicalJson(sa.options[k]) !== canonicalJson(sb.options[k])) out.options.push(`${sb.id}.${k}: ${JSON.stringify(sa.options[k])} → ${JSON.stringify(sb.options[k])}`);
      }
    }
    for (const [name, o] of Object.entries(sb.outputs)) {
      const before = sa.outputs[name];
      if (before && before.sha256 !== o.sha256) out.artifacts.push(`${sb.id}.${name}: ${before.sha256.slice(0, 12)} → ${o.sha256.slice(0, 12)}`);
    }
  }
  for (const sa of a.steps) if (!b.steps.some((s) => s.id === sa.id)) out.options.push(`${sa.id}: step removed`);
  for (const k of [...new Set([...Object.keys(a.tools), ...Object.keys(b.tools)])].sort()) {
    if (a.tools[k] !== b.tools[k]) out.tools.push(`${k}: ${a.tools[k] ?? 'absent'} → ${b.tools[k] ?? 'absent'}`);
  }
  if (a.qrun.version !== b.qrun.version) out.tools.push(`qrun: ${a.qrun.version} → ${b.qrun.version}`);

  if (!out.status.afterPassed) {
    out.metrics.push({ name: 'run status', before: out.status.before, after: out.status.after, change: `${out.status.before} → ${out.status.after}`, verdict: 'REGRESSION', regression: true });
  }

  // Why b has none of a metric: the step that measures it did not run, or it ran and left the metric out.
  const catalog = options.catalog ?? builtinMetricCatalog;
  const bStep = measuringStep(b, catalog);
  const missing = `missing in ${bName}${bStep && bStep.status !== 'ran' && bStep.status !== 'hit' ? ` (${bStep.id} ${bStep.status})` : !bStep ? ' (no step measures it)' : ''}`;
  const ma = taskNumbers(a, catalog);
  const mb = taskNumbers(b, catalog);
  const presence = <T>(name: string, x: T | undefined, y: T | undefined, show: (v: T) => string): boolean => {
    if (x !== undefined && y === undefined) out.metrics.push({ name, before: show(x), after: '—', change: missing, verdict: 'REGRESSION', regression: true });
    else if (x === undefined && y !== undefined) out.metrics.push({ name, before: '—', after: show(y), change: 'new', verdict: 'new', regression: false });
    return x !== undefined && y !== undefined;
  };
  const absolute = (name: string, x: unknown, y: unknown) => {
    const [vx, vy] = [isNum(x) ? x : undefined, isNum(y) ? y : undefined];
    if (!presence(name, vx, vy, fixed(4))) return;
    const d = vy! - vx!;
    const regression = d < -tolerance;
    out.metrics.push({ name, before: vx!.toFixed(4), after: vy!.toFixed(4), change: `${d >= 0 ? '+' : ''}${(d * 100).toFixed(2)} pt`, verdict: regression ? 'REGRESSION' : '', regression });
  };
  absolute('agreement', ma.agreement, mb.agreement);
  absolute('INT8 accuracy', ma.int8Accuracy, mb.int8Accuracy);

  const shapeKey = (l: LatencyRow) => l.label ?? `${l.batch}×${l.sequence}`;
  const la = new Map((ma.latency ?? []).filter((l) => isNum(l.ratio)).map((l) => [shapeKey(l), l]));
  const lb = new Map((mb.latency ?? []).filter((l) => isNum(l.ratio)).map((l) => [shapeKey(l), l]));
  for (const shape of [...new Set([...la.keys(), ...lb.keys()])]) {
    const [x, y] = [la.get(shape), lb.get(shape)];
    const name = `INT8/FP32 latency ${shape}`;
    if (!presence(name, x, y, ratioText)) continue;
    const m = (l: LatencyRow): Measured => ({ value: l.ratio, interval: l.ratioInterval });
    const shift = shiftBeyondNoise(m(x!), m(y!), latencyTolerance);
    // With intervals a change must be outside the noise AND beyond the tolerance to be a regression
    // (pyperf's "significant" plus its minimum speed); without, the tolerance stands in for the noise.
    const regression = shift.direction === 'higher' && shift.relative > 1 + latencyTolerance;
    const verdict = regression
      ? 'REGRESSION'
      : shift.direction === 'higher'
        ? 'slower, within tolerance'
        : shift.direction === 'lower'
          ? 'faster'
          : shift.noiseEstimate
            ? 'within noise'
            : 'within tolerance';
    out.metrics.push({ name, before: ratioText(x!), after: ratioText(y!), change: `${shift.relative.toFixed(2)}×`, verdict: `${verdict}${shift.noiseEstimate ? '' : ' (no noise estimate)'}`, regression });
  }
  return out;
}

/** "agreement missing in b; INT8/FP32 latency 1×32 1.52× REGRESSION" — what a one-line verdict names. */
export function describeChange(m: MetricChange): string {
  return m.change.startsWith('missing') || m.name === 'run status' ? `${m.name} ${m.change}` : `${m.name} ${m.change} ${m.verdict}`;
}
