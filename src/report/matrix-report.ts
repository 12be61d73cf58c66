// The side-by-side comparison of a matrix run's variants: matrix.json and matrix.md in their own
// run folder, and the table on the terminal, with the best variant that meets the gates marked.
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { newRunId } from '../engine/journal.ts';
import type { Recipe } from '../recipe/recipe.ts';
import type { Report } from './build-report.ts';
import { formatTable } from './summary.ts';

export interface VariantRow {
  variant: string;
  runId: string;
  status: string;
  agreement: number | null;
  int8Accuracy: number | null;
  accuracyDrop: number | null;
  speedup: number | null;
  sizeRatio: number | null;
  gatesPass: boolean;
  ranSteps: number;
  cacheHits: number;
  best?: boolean;
}

const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : null);

export function variantRows(reports: Report[], labels: string[]): VariantRow[] {
  const rows = reports.map((r, i): VariantRow => {
    const bench = r.steps.find((s) => s.plugin === 'bench' && (s.status === 'ran' || s.status === 'hit'))?.metrics ?? {};
    return {
      variant: labels[i]!,
      runId: r.run.id,
      status: r.run.status,
      agreement: num(bench.agreement),
      int8Accuracy: num(bench.int8Accuracy),
      accuracyDrop: num(bench.accuracyDrop),
      speedup: num(bench.speedup),
      sizeRatio: num(bench.sizeRatio),
      gatesPass: r.run.status === 'ok' && r.gates.every((g) => g.pass),
      ranSteps: r.cache.ran,
      cacheHits: r.cache.hits,
    };
  });
  // Best: meets every gate, then the highest speed-up, then the highest agreement.
  const eligible = rows.filter((r) => r.gatesPass);
  eligible.sort((a, b) => (b.speedup ?? 0) - (a.speedup ?? 0) || (b.agreement ?? 0) - (a.agreement ?? 0));
  if (eligible[0]) eligible[0].best = true;
  return rows;
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
      times(r.speedup),
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
  await writeFile(join(dir, 'matrix.json'), JSON.stringify({ recipe: recipe.name, axes, variants: rows }, null, 2) + '\n');
  await writeFile(
    join(dir, 'matrix.md'),
    [`# qrun matrix — ${recipe.name}`, '', 'Speed-up is the geometric mean of INT8-vs-FP32 median latency ratios over the benchmarked shapes, measured within each run.', '', '```', table, '```', '', ...rows.map((r) => `- ${r.variant}: run \`${r.runId}\``), ''].join('\n'),
  );
  io.out('');
  io.out(table);
  io.out(`matrix report: ${relative(process.cwd(), join(dir, 'matrix.md'))}`);
  return dir;
}
