// `qrun run recipe.yaml` (and plain `qrun recipe.yaml`): plan, execute with listr2 progress, write
// the report, print the summary, apply the gates.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { Listr, type ListrTask } from 'listr2';
import { builtinRegistry } from '../engine/builtin-plugins.ts';
import { loadExternalPlugins } from '../engine/load-plugin.ts';
import { Executor, type StepRecord } from '../engine/executor.ts';
import { findInterruptedRun, newRunId, RunJournal, startIdentity } from '../engine/journal.ts';
import { planRecipe, type ResolvedStep } from '../engine/plan.ts';
import { CacheStore } from '../cache/store.ts';
import { errors, QrunError } from '../errors.ts';
import { loadRecipe } from '../recipe/load-recipe.ts';
import type { Recipe } from '../recipe/recipe.ts';
import { buildReport, evaluateGates, type Report } from '../report/build-report.ts';
import { renderMarkdown } from '../report/markdown.ts';
import { calibrationStatsPath, renderHtml, type HtmlExtras } from '../report/html.ts';
import { formatTable, summaryRows } from '../report/summary.ts';
import { writeMatrixReport } from '../report/matrix-report.ts';
import { junitCases, renderJunit } from '../report/junit.ts';
import { compareReports } from './compare.ts';

export interface RunFlags {
  cache?: string;
  force: string[];
  /** Force this step and every later one. */
  from?: string;
  /** Stop after this step. */
  until?: string;
  /** Run this step alone; earlier steps must be cache hits. */
  only?: string;
  /** Write output for machines: no spinners. */
  plain: boolean;
  /** Write JUnit XML here (with --ci, junit.xml in the run folder). */
  junit?: string;
  /** A report.json to compare against: regressions beyond tolerance set exit code 3. */
  baseline?: string;
  ci?: boolean;
}

export interface Output {
  out(line: string): void;
  err(line: string): void;
}

/** Data the HTML report draws from artifacts (calibration ranges), read back from the cache. */
async function htmlExtras(report: Report, cacheDir: string): Promise<HtmlExtras> {
  const rel = calibrationStatsPath(report);
  if (!rel) return {};
  try {
    return { calibration: JSON.parse(await readFile(join(cacheDir, rel), 'utf8')) as HtmlExtras['calibration'] };
  } catch {
    return {};
  }
}

async function baselineCheck(file: string, report: Report) {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw errors.fileNotFound('baseline report', file);
  }
  let baseline: Report;
  try {
    baseline = JSON.parse(text) as Report;
  } catch (e) {
    throw errors.usage(`--baseline ${file} is not JSON: ${(e as Error).message}`);
  }
  return compareReports(baseline, report).metrics;
}

export function cacheRootFor(recipe: Recipe, flag?: string): string {
  return resolve(flag ?? process.env.QRUN_CACHE ?? join(recipe.dir, '.qrun'));
}

async function planOne(recipe: Recipe): Promise<{ recipe: Recipe; steps: ResolvedStep[] }> {
  const registry = builtinRegistry();
  const loadErrors = await loadExternalPlugins(recipe, registry);
  if (loadErrors.length) throw errors.recipeInvalid(loadErrors);
  const { steps, errors: planErrors } = planRecipe(recipe, registry);
  if (planErrors.length) throw errors.recipeInvalid(planErrors);
  return { recipe, steps };
}

/** The recipe planned: one entry, or one per variant of a `matrix:` recipe. */
export async function loadAndPlanAll(file: string): Promise<{ recipe: Recipe; steps: ResolvedStep[] }[]> {
  const loaded = await loadRecipe(file);
  if (!loaded.ok) throw errors.recipeInvalid(loaded.errors);
  const recipes = loaded.value.matrix ? loaded.value.matrix.variants : [loaded.value];
  const planned = [];
  for (const r of recipes) planned.push(await planOne(r));
  return planned;
}

export async function loadAndPlan(file: string): Promise<{ recipe: Recipe; steps: ResolvedStep[] }> {
  const all = await loadAndPlanAll(file);
  if (all.length !== 1) throw errors.usage(`${file} has a matrix of ${all.length} variants; this command takes a single recipe`, 'run it with `qrun run`');
  return all[0]!;
}

function statusTitle(step: ResolvedStep, r: StepRecord): string {
  const secs = `${(r.durationMs / 1000).toFixed(1)}s`;
  if (r.status === 'hit') return `${step.spec.id} (${step.plugin.name}) — cache hit`;
  if (r.status === 'skipped') return `${step.spec.id} (${step.plugin.name}) — skipped: ${r.skipped?.reason}`;
  return `${step.spec.id} (${step.plugin.name}) — ${secs}${r.cacheNote ? ` (${r.cacheNote})` : ''}`;
}

export async function runCommand(file: string, flags: RunFlags, io: Output): Promise<{ reports: Report[]; exitCode: number }> {
  const planned = await loadAndPlanAll(file);
  const invocation = newRunId();
  if (planned.length === 1 && !planned[0]!.recipe.variant) {
    const { report, exitCode } = await runOne(planned[0]!.recipe, planned[0]!.steps, flags, io, invocation);
    return { reports: [report], exitCode };
  }
  const reports: Report[] = [];
  let exitCode = 0;
  for (const [i, { recipe, steps }] of planned.entries()) {
    io.out(`\n▶ variant ${i + 1}/${planned.length}: ${recipe.variant!.label}`);
    const r = await runOne(recipe, steps, flags, io, invocation);
    reports.push(r.report);
    exitCode = Math.max(exitCode, r.exitCode);
  }
  const root = cacheRootFor(planned[0]!.recipe, flags.cache);
  await writeMatrixReport(root, planned.map((p) => p.recipe), reports, io);
  return { reports, exitCode };
}

/** `invocation`: one id per `qrun run`, shared by a matrix's variants (gc's --keep-last counts invocations). */
async function runOne(recipe: Recipe, steps: ResolvedStep[], flags: RunFlags, io: Output, invocation: string): Promise<{ report: Report; exitCode: number }> {
  const indexOf = (flag: string, id: string) => {
    const i = steps.findIndex((s) => s.spec.id === id);
    if (i < 0) throw errors.usage(`--${flag} ${id}: the recipe has no step "${id}"`, `steps: ${steps.map((s) => s.spec.id).join(', ')}`);
    return i;
  };
  for (const id of flags.force) indexOf('force', id);
  const force = new Set(flags.force);
  const cacheOnly = new Set<string>();
  let last = steps.length - 1;
  if (flags.from !== undefined) for (const s of steps.slice(indexOf('from', flags.from))) force.add(s.spec.id);
  if (flags.until !== undefined) last = Math.min(last, indexOf('until', flags.until));
  if (flags.only !== undefined) {
    const i = indexOf('only', flags.only);
    last = Math.min(last, i);
    for (const s of steps.slice(0, i)) cacheOnly.add(s.spec.id);
  }
  const selected = steps.slice(0, last + 1);
  const root = cacheRootFor(recipe, flags.cache);
  const store = new CacheStore(join(root, 'cache'));
  await store.init();
  const runsDir = join(root, 'runs');
  const interrupted = await findInterruptedRun(runsDir, recipe.file, recipe.variant?.label);
  const runId = newRunId();
  const journal = new RunJournal(join(runsDir, runId));
  // Held until the end event: tells resume and `qrun cache gc` (on any host) that this run is live.
  const runLock = await journal.lock();
  const startedAt = new Date();
  journal.append({ event: 'start', runId, recipe: recipe.file, ...(recipe.variant ? { variant: recipe.variant.label } : {}), recipeHash: recipe.hash, invocation, ...startIdentity(), at: startedAt.toISOString() });
  if (interrupted) {
    io.err(`qrun: resuming after interrupted run ${interrupted.runId} (${interrupted.finishedSteps.length} step(s) finished and cached: ${interrupted.finishedSteps.join(', ') || 'none'})`);
  }

  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  const executor = new Executor(recipe, steps, store, { force, cacheOnly, signal: abort.signal });
  const tasks: ListrTask[] = selected.map((step) => ({
    title: `${step.spec.id} (${step.plugin.name})`,
    task: async (_ctx, task) => {
      const record = await executor.runStep(step, (e) => {
        // Without a terminal every output line is printed: keep to warnings there.
        if (!flags.plain || (e.type === 'log' && e.level === 'warn')) task.output = e.message;
      });
      journal.append({ event: 'step', id: record.id, status: record.status, key: record.key, durationMs: Math.round(record.durationMs) });
      if (record.status === 'skipped') task.skip(record.skipped?.reason ?? 'skipped');
      else task.title = statusTitle(step, record);
    },
  }));
  const list = new Listr(tasks, {
    concurrent: false,
    exitOnError: true,
    // listr2's own SIGINT handler exits with 127 at once; qrun stops the step and cleans up instead.
    registerSignalListeners: false,
    renderer: flags.plain ? 'simple' : 'default',
    fallbackRenderer: 'simple',
    rendererOptions: { collapseSubtasks: false, showErrorMessage: false },
    fallbackRendererOptions: {},
    silentRendererCondition: false,
  } as never);

  let failure: unknown;
  try {
    await list.run();
  } catch (e) {
    failure = e;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  const finishedAt = new Date();
  const records = steps.map(
    (s) =>
      executor.records.get(s.spec.id) ?? {
        id: s.spec.id,
        uses: s.spec.uses,
        plugin: s.plugin.name,
        pluginVersion: s.plugin.version,
        status: 'not-run' as const,
        durationMs: 0,
        metrics: {},
        outputs: {},
        options: s.options,
      },
  );
  const gates = failure ? [] : evaluateGates(recipe.gates, records);
  const status: Report['run']['status'] = abort.signal.aborted ? 'interrupted' : failure ? 'failed' : 'ok';
  const report = buildReport({
    recipe,
    runId,
    startedAt,
    finishedAt,
    status,
    error: failure ? (failure as Error).message : undefined,
    resumedFrom: interrupted?.runId,
    steps: records,
    gates,
    cacheRoot: join(root, 'cache'),
  });
  await mkdir(journal.dir, { recursive: true });
  await writeFile(join(journal.dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  await writeFile(join(journal.dir, 'report.md'), renderMarkdown(report));
  await writeFile(join(journal.dir, 'report.html'), renderHtml(report, await htmlExtras(report, join(root, 'cache'))));
  journal.append({ event: 'end', status, at: finishedAt.toISOString() });
  await runLock.release();

  let baselineRows: Awaited<ReturnType<typeof baselineCheck>> = [];
  if (!failure && flags.baseline) baselineRows = await baselineCheck(flags.baseline, report);
  const junitFile = flags.junit ?? (flags.ci ? join(journal.dir, 'junit.xml') : undefined);
  if (junitFile) await writeFile(junitFile, renderJunit(report, junitCases(report, baselineRows)));

  if (failure) {
    if (abort.signal.aborted) throw new QrunError([{ code: 'INTERRUPTED', message: 'interrupted; the next run resumes at the first unfinished step', hint: `report: ${relative(process.cwd(), join(journal.dir, 'report.md'))}` }], 130);
    throw failure;
  }

  const rows = summaryRows(report);
  io.out('');
  if (rows.length) io.out(formatTable(['', 'FP32', 'INT8', ''], rows.map((r) => [r.label, r.fp32, r.int8, r.change])));
  const hits = report.cache.hits;
  const cacheLine =
    hits === selected.length - report.cache.skipped
      ? `all ${hits} cacheable steps were cache hits${report.cache.skipped ? `, ${report.cache.skipped} skipped` : ''} (results are from the run that built them)`
      : `${report.cache.ran} step(s) ran, ${hits} cache hit(s), ${report.cache.skipped} skipped`;
  io.out('');
  io.out(`${recipe.name}${recipe.variant ? ` [${recipe.variant.label}]` : ''}: ${cacheLine} in ${(report.run.durationMs / 1000).toFixed(1)} s`);
  for (const s of records.filter((r) => r.status === 'skipped')) io.out(`skipped ${s.id}: ${s.skipped?.reason}${s.skipped?.fix ? ` — ${s.skipped.fix}` : ''}`);
  let exitCode = 0;
  for (const g of gates) {
    if (g.notEvaluated) {
      io.out(`gate ${g.metric} ${g.op} ${g.value}: not evaluated (step not run in this invocation)`);
      continue;
    }
    io.out(`gate ${g.metric} ${g.op} ${g.value}: ${g.actual === null ? 'metric missing' : g.actual.toFixed(4)} — ${g.pass ? 'pass' : 'FAIL'}`);
    if (!g.pass) exitCode = 3;
  }
  if (flags.baseline) {
    const regressions = baselineRows.filter((r) => r.regression);
    io.out(`baseline ${flags.baseline}: ${regressions.length ? regressions.map((r) => `${r.name} ${r.change} REGRESSION`).join('; ') : `no regression (${baselineRows.length} metrics compared)`}`);
    if (regressions.length) exitCode = 3;
  }
  if (junitFile) io.out(`junit: ${relative(process.cwd(), junitFile)}`);
  io.out(`report: ${relative(process.cwd(), join(journal.dir, 'report.md'))} (and report.html)`);
  return { report, exitCode };
}
