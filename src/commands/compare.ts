// `qrun compare a/report.json b/report.json`: what changed between two runs — options, artifact
// digests, accuracy and latency (as ratios), tool versions. With --tolerance, a regression beyond it
// sets exit code 3 (CI's baseline check).
import { readFile } from 'node:fs/promises';
import { errors } from '../errors.ts';
import type { Report } from '../report/build-report.ts';
import { formatTable } from '../report/summary.ts';
import { canonicalJson } from '../util/hash.ts';
import type { LatencyRow } from '../../plugins/bench/index.ts';
import type { Output } from './run.ts';

export interface Comparison {
  options: string[];
  artifacts: string[];
  tools: string[];
  metrics: { name: string; before: number; after: number; change: string; regression: boolean }[];
}

async function readReport(file: string): Promise<Report> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw errors.fileNotFound('report', file);
  }
  try {
    const r = JSON.parse(text) as Report;
    if (r.schemaVersion !== 1 || !Array.isArray(r.steps)) throw new Error('not a qrun report (schemaVersion 1)');
    return r;
  } catch (e) {
    throw errors.usage(`${file} is not a qrun report.json: ${(e as Error).message}`);
  }
}

interface BenchLike {
  agreement?: number;
  int8Accuracy?: number | null;
  fp32Accuracy?: number | null;
  latency?: LatencyRow[];
}

const benchOf = (r: Report) => r.steps.find((s) => s.plugin === 'bench' && (s.status === 'ran' || s.status === 'hit'))?.metrics as BenchLike | undefined;

/**
 * Regressions: agreement or INT8 accuracy lower by more than `tolerance` (absolute), or an INT8
 * latency ratio (INT8/FP32, measured within one run, so machine noise mostly cancels) higher by
 * more than `latencyTolerance` relative (timings are noisy: 20% by default).
 */
export function compareReports(a: Report, b: Report, tolerance = 0.02, latencyTolerance = 0.2): Comparison {
  const out: Comparison = { options: [], artifacts: [], tools: [], metrics: [] };
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
  const ma = benchOf(a);
  const mb = benchOf(b);
  if (ma && mb) {
    const absolute = (name: string, x?: number | null, y?: number | null) => {
      if (typeof x !== 'number' || typeof y !== 'number') return;
      const d = y - x;
      out.metrics.push({ name, before: x, after: y, change: `${d >= 0 ? '+' : ''}${(d * 100).toFixed(2)} pt`, regression: d < -tolerance });
    };
    absolute('agreement', ma.agreement, mb.agreement);
    absolute('INT8 accuracy', ma.int8Accuracy, mb.int8Accuracy);
    for (const lb of mb.latency ?? []) {
      const la = ma.latency?.find((l) => l.batch === lb.batch && l.sequence === lb.sequence);
      if (!la) continue;
      const rel = lb.ratio / la.ratio;
      out.metrics.push({
        name: `INT8/FP32 latency ${lb.batch}×${lb.sequence}`,
        before: la.ratio,
        after: lb.ratio,
        change: `${rel.toFixed(2)}×`,
        regression: rel > 1 + latencyTolerance,
      });
    }
  }
  return out;
}

export async function compareCommand(fileA: string | undefined, fileB: string | undefined, flags: { tolerance?: number; latencyTolerance?: number }, io: Output): Promise<number> {
  if (!fileA || !fileB) throw errors.usage('qrun compare needs two report.json files', 'qrun compare old/report.json new/report.json');
  const c = compareReports(await readReport(fileA), await readReport(fileB), flags.tolerance, flags.latencyTolerance);
  const section = (title: string, lines: string[]) => {
    io.out(`${title}: ${lines.length ? '' : 'none'}`);
    for (const l of lines) io.out(`  ${l}`);
  };
  section('options changed', c.options);
  section('artifacts changed', c.artifacts);
  section('tool versions changed', c.tools);
  if (c.metrics.length) {
    io.out('');
    io.out(formatTable(['metric', 'before', 'after', 'change', ''], c.metrics.map((m) => [m.name, m.before.toFixed(4), m.after.toFixed(4), m.change, m.regression ? 'REGRESSION' : ''])));
  }
  const regressions = c.metrics.filter((m) => m.regression);
  if (regressions.length) {
    io.out(`\n${regressions.length} regression(s) beyond tolerance (accuracy ${flags.tolerance ?? 0.02} absolute, latency ratio ${flags.latencyTolerance ?? 0.2} relative)`);
    return 3;
  }
  return 0;
}
