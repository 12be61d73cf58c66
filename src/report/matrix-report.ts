// The side-by-side comparison of a matrix run's variants: matrix.json and matrix.md in their own
// run folder, and the table on the terminal, with the best variant that meets the gates marked.
// "Best" never rests on noise: speed decides only between variants whose speed-up intervals are
// disjoint (each bench measures its own noise, plugins/bench/latency.ts); among the variants whose
// speed is within the noise of the fastest, agreement decides, then INT8 accuracy, then the order of
// the matrix — and the report says which of these decided.
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { builtinMetricCatalog } from '../engine/builtin-metrics.ts';
import { newRunId } from '../engine/journal.ts';
import { valueWithRole, type MetricCatalog } from '../engine/metrics.ts';
import type { MetricRole } from '../engine/plugin.ts';
import type { Recipe } from '../recipe/recipe.ts';
import type { Interval } from '../stats/bootstrap.ts';
import { formatWithInterval, shiftBeyondNoise } from '../stats/noise.ts';
import type { Report } from './build-report.ts';
import { runPassed } from './run-passed.ts';
import { formatTable } from './summary.ts';

export interface VariantRow {
  variant: string;
  runId: string;
  status: string;
  agreement: number | null;
  int8Accuracy: number | null;
  accuracyDrop: number | null;
  speedup: number | null;
  /** 95% interval of the speed-up; null without a noise estimate. */
  speedupInterval: Pick<Interval, 'low' | 'high'> | null;
  sizeRatio: number | null;
  gatesPass: boolean;
  ranSteps: number;
  cacheHits: number;
  best?: boolean;
  /** On the best row: why it was chosen over the others. */
  bestReason?: string;
}

/** Without intervals, speed-ups within this relative tolerance are a tie (compare's default latency tolerance). */
const SPEED_TOLERANCE = 0.2;

const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/** One row per variant, its numbers read by the roles plugins declare (the bench's, built in). */
export function variantRows(reports: Report[], labels: string[], catalog: MetricCatalog = builtinMetricCatalog): VariantRow[] {
  const rows = reports.map((r, i): VariantRow => {
    const role = (x: MetricRole) => valueWithRole(r.steps, catalog, x);
    return {
      variant: labels[i]!,
      runId: r.run.id,
      status: r.run.status,
      agreement: num(role('agreement')),
      int8Accuracy: num(role('accuracy')),
      accuracyDrop: num(role('accuracy-drop')),
      speedup: num(role('speedup')),
      speedupInterval: interval(role('speedup-interval')),
      sizeRatio: num(role('size-ratio')),
      gatesPass: runPassed(r),
      ranSteps: r.cache.ran,
      cacheHits: r.cache.hits,
    };
  });
  const best = pickBest(rows);
  if (best) Object.assign(best.row, { best: true, bestReason: best.reason });
  return rows;
}

function interval(x: unknown): VariantRow['speedupInterval'] {
  const i = x as { low?: unknown; high?: unknown } | undefined;
  const [low, high] = [num(i?.low), num(i?.high)];
  return low !== null && high !== null ? { low, high } : null;
}

const speedText = (r: VariantRow) => (r.speedup === null ? 'n/a' : formatWithInterval({ value: r.speedup, interval: r.speedupInterval }, 2, ''));

/** Whether `r` is slower than `fastest` by more than the noise both measured (or, without intervals, the tolerance). */
function clearlySlower(r: VariantRow, fastest: VariantRow): boolean {
  if (fastest.speedup === null) return false;
  if (r.speedup === null) return true;
  return shiftBeyondNoise({ value: fastest.speedup, interval: fastest.speedupInterval }, { value: r.speedup, interval: r.speedupInterval }, SPEED_TOLERANCE).direction === 'lower';
}

/**
 * The best variant among those that pass: the fastest, unless others are within its noise — then
 * the most accurate of those (agreement, then INT8 accuracy), then the first in matrix order.
 */
export function pickBest(rows: VariantRow[]): { row: VariantRow; reason: string } | undefined {
  const eligible = rows.filter((r) => r.gatesPass);
  if (eligible.length === 0) return undefined;
  if (eligible.length === 1) return { row: eligible[0]!, reason: 'the only variant that passed' };
  // The first of the highest point estimates; a tie on the point estimate is resolved below anyway.
  const fastest = eligible.reduce((f, r) => ((r.speedup ?? -Infinity) > (f.speedup ?? -Infinity) ? r : f));
  const contenders = eligible.filter((r) => r === fastest || !clearlySlower(r, fastest));
  const noNoise = contenders.some((r) => r.speedupInterval === null) || fastest.speedupInterval === null ? ' (no noise estimate: speed-ups within 20% count as a tie)' : '';
  if (contenders.length === 1) return { row: fastest, reason: `fastest, outside the noise of the others (speed-up ${speedText(fastest)})${noNoise}` };
  const desc = (x: number | null, y: number | null) => (y ?? -Infinity) - (x ?? -Infinity);
  // Array.prototype.sort is stable: equal rows keep matrix order, the deterministic last tie-break.
  const ranked = [...contenders].sort((a, b) => desc(a.agreement, b.agreement) || desc(a.int8Accuracy, b.int8Accuracy));
  const [first, second] = [ranked[0]!, ranked[1]!];
  const decided =
    first.agreement !== second.agreement ? 'chosen on agreement' : first.int8Accuracy !== second.int8Accuracy ? 'chosen on INT8 accuracy' : 'same agreement and accuracy: the first in matrix order';
  const speeds = contenders.every((r) => r.speedup === null) ? 'no speed-up measured' : `speed-ups within noise of each other (${contenders.map((r) => `${r.variant} ${speedText(r)}`).join(', ')})${noNoise}`;
  return { row: first, reason: `${speeds}; ${decided}` };
}

const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(2)}%`);
const times = (x: number | null) => (x === null ? 'n/a' : `${x.toFixed(2)}×`);

export function matrixTable(rows: VariantRow[]): string {
  return formatTable(
    ['variant', 'agreement', 'INT8 acc', 'Δ acc', 'speed-up', 'size', 'gates', 'steps run', ''],
    rows.map((r) => [
      r.variant,
      pct(r.agreement),
      pct(r.int8Accuracy),
      r.accuracyDrop === null ? 'n/a' : `${(-r.accuracyDrop * 100).toFixed(2)} pt`,
      speedText(r),
      times(r.sizeRatio),
      r.gatesPass ? 'pass' : 'FAIL',
      `${r.ranSteps} (${r.cacheHits} hits)`,
      r.best ? '★ best' : '',
    ]),
  );
}

export async function writeMatrixReport(root: string, recipes: Recipe[], reports: Report[], io: { out(l: string): void }): Promise<string> {
  const recipe = recipes[0]!;
  const labels = recipes.map((r, i) => r.variant?.label ?? `variant ${i + 1}`);
  const axes: Record<string, unknown[]> = {};
  for (const r of recipes) for (const [k, v] of Object.entries(r.variant?.values ?? {})) if (!(axes[k] ??= []).includes(v)) axes[k]!.push(v);
  const rows = variantRows(reports, labels);
  const dir = join(root, 'runs', `${newRunId()}-matrix`);
  await mkdir(dir, { recursive: true });
  const table = matrixTable(rows);
  const best = rows.find((r) => r.best);
  const bestLine = best ? `★ best: ${best.variant} — ${best.bestReason}` : '★ best: none (no variant passed)';
  await writeFile(join(dir, 'matrix.json'), JSON.stringify({ recipe: recipe.name, axes, variants: rows }, null, 2) + '\n');
  await writeFile(
    join(dir, 'matrix.md'),
    [
      `# qrun matrix — ${recipe.name}`,
      '',
      'Speed-up is the geometric mean over the benchmarked shapes of FP32/INT8 median latency, measured within each run, with its 95% bootstrap interval [low–high] over the blocks each bench timed. Speed decides the best variant only where intervals do not overlap; within the noise, agreement decides.',
      '',
      '```',
      table,
      '```',
      '',
      bestLine,
      '',
      ...rows.map((r) => `- ${r.variant}: run \`${r.runId}\``),
      '',
    ].join('\n'),
  );
  io.out('');
  io.out(table);
  io.out(bestLine);
  io.out(`matrix report: ${relative(process.cwd(), join(dir, 'matrix.md'))}`);
  return dir;
}
