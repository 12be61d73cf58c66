// `qrun run recipe.yaml` (and plain `qrun recipe.yaml`): plan, execute with listr2 progress, write
// the report, print the summary, apply the gates.
import { join, relative, resolve } from 'node:path';
import { Listr, type ListrTask } from 'listr2';
import { Executor, type StepRecord } from '../engine/executor.ts';
import { findInterruptedRun, newRunId, RunJournal, startIdentity } from '../engine/journal.ts';
import type { ResolvedStep } from '../engine/plan.ts';
import type { Output } from '../engine/output.ts';
import { cacheRootFor, loadAndPlanAll } from '../engine/planning.ts';
import { selectSteps, type StepSelection } from '../engine/step-selection.ts';
import { CacheStore } from '../cache/store.ts';
import { errors, EXIT, formatDiagnostic, QrunError } from '../errors.ts';
import type { OutMode, Recipe } from '../recipe/recipe.ts';
import { checkDeliverablesTarget, Delivery, finishMatrixDeliverables } from '../engine/deliverables.ts';
import { buildReport, evaluateGates, runStatus, type Report } from '../report/build-report.ts';
import { renderMarkdown } from '../report/markdown.ts';
import { readHtmlExtras, renderHtml } from '../report/html.ts';
import { formatTable, quantizedLabel, summaryRows } from '../report/summary.ts';
import { writeMatrixReport } from '../report/matrix-report.ts';
import { junitCases, renderJunit } from '../report/junit.ts';
import { verdictLine } from '../report/verdict.ts';
import { PlainProgress } from '../ui/plain-progress.ts';
import { listenForStopSignals } from '../engine/stop-signals.ts';
import { writeFileAtomic } from '../util/atomic-write.ts';
import { guardDiskFullSync } from '../util/disk-full.ts';
import { runPassed, runStatusText } from '../report/run-passed.ts';
import { compareReports, describeChange, readReport, type MetricChange } from '../report/compare-reports.ts';
import type { RemoteCache, RemoteCacheMode } from '../cache/remote-cache.ts';
import type { QueuedResults } from '../queue/queued-steps.ts';

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
  /** The deliverables folder (default: out/<recipe name>/ beside the recipe, or the recipe's `out:`). */
  out?: string;
  /** copy (copy-on-write where supported) or link (hard links into the cache): src/engine/deliverables.ts. */
  outMode?: OutMode;
  /** s3://bucket/prefix (else $QRUN_REMOTE_CACHE, else the recipe's remoteCache:): src/cache/remote-cache.ts. */
  remoteCache?: string;
  remoteCacheMode?: RemoteCacheMode;
  /** redis://host:port: the steps run on `qrun worker`s (src/queue/), the reports are made here. */
  queue?: string;
}

/** What the variants of one invocation share: the remote cache, and on a queue the workers' results. */
interface Shared {
  remote?: RemoteCache;
  queued?: QueuedResults;
}


/** The --baseline report, checked before anything runs: against a run that did not pass, every comparison would pass vacuously. */
async function loadBaseline(file: string): Promise<Report> {
  const baseline = await readReport(file, 'baseline report');
  if (!runPassed(baseline)) throw errors.baselineNotPassed(file, runStatusText(baseline));
  return baseline;
}

/** The --baseline verdict line: the regressions by name, or what was compared and how latency moved. */
function baselineLine(file: string, rows: MetricChange[]): string {
  const regressions = rows.filter((r) => r.regression);
  if (regressions.length) return `baseline ${file}: ${regressions.map(describeChange).join('; ')}`;
  const latency = rows.filter((r) => r.name.startsWith('INT8/FP32 latency ')).map((r) => `${r.name.slice('INT8/FP32 latency '.length)} ${r.verdict}`);
  return `baseline ${file}: no regression (${rows.length} metrics compared)${latency.length ? `; latency ${latency.join(', ')}` : ''}`;
}

function statusTitle(step: ResolvedStep, r: StepRecord): string {
  const secs = `${(r.durationMs / 1000).toFixed(1)}s`;
  if (r.status === 'hit') return `${step.spec.id} (${step.plugin.name}) — cache hit${r.cacheNote ? ` (${r.cacheNote})` : ''}${r.ranOn ? ` on ${r.ranOn}` : ''}`;
  if (r.status === 'skipped') return `${step.spec.id} (${step.plugin.name}) — skipped: ${r.skipped?.reason}`;
  if (r.status === 'not-run') return `${step.spec.id} (${step.plugin.name}) — not run: ${r.cacheNote}`;
  return `${step.spec.id} (${step.plugin.name}) — ${secs}${r.cacheNote ? ` (${r.cacheNote})` : ''}${r.ranOn ? ` on ${r.ranOn}` : ''}`;
}

export async function runCommand(file: string, flags: RunFlags, io: Output): Promise<{ reports: Report[]; exitCode: number }> {
  const planned = await loadAndPlanAll(file);
  if (flags.baseline) await loadBaseline(flags.baseline);
  for (const p of planned) await checkDeliverablesTarget(p.recipe, flags);
  const invocation = newRunId();
  const shared = await openShared(planned, flags, io, invocation);
  try {
    if (planned.length === 1 && !planned[0]!.recipe.variant) {
      const { report, exitCode } = await runOne(planned[0]!.recipe, planned[0]!.steps, flags, io, invocation, shared, 0);
      return { reports: [report], exitCode };
    }
    const reports: Report[] = [];
    let exitCode = 0;
    for (const [i, { recipe, steps }] of planned.entries()) {
      io.out(`\n▶ variant ${i + 1}/${planned.length}: ${recipe.variant!.label}`);
      const r = await runOne(recipe, steps, flags, io, invocation, shared, i);
      reports.push(r.report);
      exitCode = Math.max(exitCode, r.exitCode);
    }
    const root = cacheRootFor(planned[0]!.recipe, flags.cache);
    const matrixDir = await writeMatrixReport(root, planned.map((p) => p.recipe), reports, io);
    io.out(await finishMatrixDeliverables(planned.map((p) => p.recipe), flags, matrixDir));
    return { reports, exitCode };
  } finally {
    if (shared.remote) io.out(shared.remote.summary());
    shared.remote?.close();
  }
}

/**
 * The remote cache (checked once; a local run goes on without it, warned), and with --queue the
 * steps submitted to the workers and followed to the end: src/queue/submit.ts.
 */
async function openShared(planned: Awaited<ReturnType<typeof loadAndPlanAll>>, flags: RunFlags, io: Output, invocation: string): Promise<Shared> {
  const first = planned[0]!.recipe;
  if (flags.queue) for (const [flag, v] of [['--force', flags.force.length], ['--from', flags.from], ['--until', flags.until], ['--only', flags.only]] as const) if (v) throw errors.queueOptionConflict(flag);
  const wanted = flags.remoteCache || process.env.QRUN_REMOTE_CACHE || first.raw.remoteCache || flags.queue || flags.remoteCacheMode;
  // Loaded only when asked for: the AWS SDK takes a quarter of a second to import.
  if (!wanted) return {};
  const { openRemoteCache } = await import('../cache/remote-cache.ts');
  // A queued run reads what the workers built; it never builds, so it never writes.
  const remote = await openRemoteCache({ flag: flags.remoteCache, mode: flags.queue ? 'read' : flags.remoteCacheMode, recipe: first, strict: !!flags.queue }, (line) => io.err(line));
  if (!remote && flags.remoteCacheMode) throw errors.usage('--remote-cache-mode needs a remote cache', 'add --remote-cache s3://BUCKET/PREFIX (or set QRUN_REMOTE_CACHE, or remoteCache: in the recipe)');
  if (!flags.queue) return { remote };
  if (!remote) throw errors.queueNeedsRemoteCache();
  const { parseQueueUrl } = await import('../queue/connection.ts');
  const { submitAndFollow } = await import('../queue/submit.ts');
  const { QueuedResults } = await import('../queue/queued-steps.ts');
  const run = await submitAndFollow(planned, parseQueueUrl(flags.queue), remote.url, invocation, io);
  return { remote, queued: new QueuedResults(run, planned) };
}

/** A run in progress: its cache, its folder and journal (locked while it is live), when it began, the run it resumes. */
interface OpenRun {
  root: string;
  store: CacheStore;
  runId: string;
  journal: RunJournal;
  runLock: { release(): Promise<void> };
  startedAt: Date;
  interrupted?: { runId: string; finishedSteps: string[] };
}

/** What the steps left: their records in recipe order (not-run where none), the error that stopped them. */
interface StepsOutcome {
  records: StepRecord[];
  failure: unknown;
  finishedAt: Date;
}

/** `invocation`: one id per `qrun run`, shared by a matrix's variants (gc's --keep-last counts invocations). */
async function runOne(recipe: Recipe, steps: ResolvedStep[], flags: RunFlags, io: Output, invocation: string, shared: Shared, variant: number): Promise<{ report: Report; exitCode: number }> {
  const selection = await selectSteps(steps, flags);
  const run = await openRun(recipe, flags, io, invocation);
  // SIGINT and SIGTERM stop the run the same way, and a second one exits at once (stop-signals.ts).
  const stop = listenForStopSignals((line) => io.err(line));
  try {
    const outcome = await executeSteps(recipe, steps, selection, run, flags, io, stop, shared, variant);
    const { failure } = outcome;
    // Interrupted: a signal stopped the steps. One that comes while the report is being written
    // changes nothing that happened (and the run still exits with its verdict's code).
    const signal = failure !== undefined ? stop.received() : undefined;
    const { report, baselineRows } = await reportOf(recipe, run, outcome, signal, flags);
    // Staged while the run still holds its cache entries (gc keeps them); swapped in after the reports.
    const delivery = await Delivery.prepare({ recipe, steps, records: outcome.records, report, options: flags, onWait: (line) => io.err(line) });
    const { unwritten, junitFile } = await writeRunFiles(report, run, outcome.finishedAt, baselineRows, delivery, flags);
    const reportMd = relative(process.cwd(), join(run.journal.dir, 'report.md'));
    printSummary({ recipe, report, outcome, selected: selection.selected.length, baselineRows, junitFile, unwritten, reportMd, deliveryLine: delivery.line() }, flags, io);

    if (signal) throw withUnwritten(errors.interrupted(signal, reportMd), unwritten, io);
    if (failure) throw withUnwritten(failure, unwritten, io);
    if (unwritten.length) throw withUnwritten(undefined, unwritten, io);
    const status = report.run.status;
    return { report, exitCode: status === 'gates-failed' || status === 'regressed' ? EXIT.gateFailed : EXIT.ok };
  } finally {
    stop.dispose();
  }
}

/** The cache opened, the run folder and journal made and locked, the start recorded; says so when it resumes an interrupted run. */
async function openRun(recipe: Recipe, flags: RunFlags, io: Output, invocation: string): Promise<OpenRun> {
  const root = cacheRootFor(recipe, flags.cache);
  const store = new CacheStore(join(root, 'cache'));
  await store.init();
  const runsDir = join(root, 'runs');
  const interrupted = await findInterruptedRun(runsDir, recipe.file, recipe.variant?.label);
  const runId = newRunId();
  const journal = guardDiskFullSync('the run folder', join(runsDir, runId), () => new RunJournal(join(runsDir, runId)));
  // Held until the end event: tells resume and `qrun cache gc` (on any host) that this run is live.
  const runLock = await journal.lock();
  const startedAt = new Date();
  guardDiskFullSync('the run journal', journal.file, () =>
    journal.append({ event: 'start', runId, recipe: recipe.file, ...(recipe.variant ? { variant: recipe.variant.label } : {}), recipeHash: recipe.hash, invocation, ...startIdentity(), at: startedAt.toISOString() }),
  );
  if (interrupted) {
    io.err(`qrun: resuming after interrupted run ${interrupted.runId} (${interrupted.finishedSteps.length} step(s) finished and cached: ${interrupted.finishedSteps.join(', ') || 'none'})`);
  }
  return { root, store, runId, journal, runLock, startedAt, interrupted };
}

/** The selected steps, one after the other, with listr2 on a terminal or one line per step (plain); each journaled as it ends. */
async function executeSteps(
  recipe: Recipe,
  steps: ResolvedStep[],
  selection: StepSelection,
  run: OpenRun,
  flags: RunFlags,
  io: Output,
  stop: ReturnType<typeof listenForStopSignals>,
  shared: Shared,
  variant: number,
): Promise<StepsOutcome> {
  const { force, lookupOnly } = selection;
  // Queued: every step was built by a worker, so each must come from the cache (remote, then here);
  // a plugin that is never cached runs here too, as it does on every run.
  const cacheOnly = shared.queued ? new Set(steps.filter((s) => s.plugin.cacheable !== false).map((s) => s.spec.id)) : selection.cacheOnly;
  const executor = new Executor(recipe, steps, run.store, { force, cacheOnly, lookupOnly, signal: stop.signal, remote: shared.remote });
  const journal = run.journal;
  // Without a terminal, src/ui/plain-progress.ts prints each step once (listr2 renders nothing).
  const plain = flags.plain ? new PlainProgress((line) => io.out(line)) : undefined;
  const tasks: ListrTask[] = selection.selected.map((step) => ({
    title: `${step.spec.id} (${step.plugin.name})`,
    task: async (_ctx, task) => {
      // A signal that came while the previous step was finishing stops the run before this one.
      stop.signal.throwIfAborted();
      const started = performance.now();
      let record: StepRecord;
      try {
        const skippedOnWorker = shared.queued?.skippedRecord(variant, step.spec.id);
        if (skippedOnWorker) executor.records.set(step.spec.id, skippedOnWorker);
        record = skippedOnWorker ?? (await executor.runStep(step, (e) => (plain ? plain.event(step.spec.id, e) : (task.output = e.message))));
        shared.queued?.apply(variant, record);
      } catch (e) {
        if (shared.queued && e instanceof QrunError && e.code === 'NOT_CACHED') e = shared.queued.keyMismatch(variant, step.spec.id, (await executor.keyOf(step).catch(() => undefined))?.key);
        plain?.failed(`${step.spec.id} (${step.plugin.name}) — ${stop.signal.aborted ? 'interrupted' : 'failed'} after ${((performance.now() - started) / 1000).toFixed(1)}s`);
        throw e;
      }
      guardDiskFullSync('the run journal', journal.file, () =>
        journal.append({ event: 'step', id: record.id, status: record.status, key: record.key, durationMs: Math.round(record.durationMs) }),
      );
      if (record.status === 'skipped' || record.status === 'not-run') {
        plain?.skipped(statusTitle(step, record));
        task.skip(record.skipped?.reason ?? record.cacheNote ?? 'skipped');
      } else {
        plain?.done(statusTitle(step, record));
        task.title = statusTitle(step, record);
      }
    },
  }));
  const list = new Listr(tasks, {
    concurrent: false,
    exitOnError: true,
    // listr2's own SIGINT handler exits with 127 at once; qrun stops the step and cleans up instead.
    registerSignalListeners: false,
    renderer: flags.plain ? 'silent' : 'default',
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
  return { records, failure, finishedAt };
}

/** The report: steps, gates (when every step finished) and, with --baseline, the comparison, whose regressions are part of the verdict. */
async function reportOf(recipe: Recipe, run: OpenRun, outcome: StepsOutcome, signal: string | undefined, flags: RunFlags): Promise<{ report: Report; baselineRows: MetricChange[] }> {
  const { records, failure } = outcome;
  const gates = failure ? [] : evaluateGates(recipe.gates, records);
  const report = buildReport({
    recipe,
    runId: run.runId,
    startedAt: run.startedAt,
    finishedAt: outcome.finishedAt,
    status: runStatus({ interrupted: signal !== undefined, failed: failure !== undefined, gates }),
    signal,
    error: failure ? (failure as Error).message : undefined,
    resumedFrom: run.interrupted?.runId,
    steps: records,
    gates,
    cacheRoot: join(run.root, 'cache'),
  });

  // --baseline: compared when every step finished; a regression is part of the verdict.
  let baselineRows: MetricChange[] = [];
  if (!failure && flags.baseline) {
    baselineRows = compareReports(await loadBaseline(flags.baseline), report, { afterName: 'this run' }).metrics;
    // 'run status' is compare's row for a run that did not pass: here the verdict itself says that.
    const regressions = baselineRows.filter((r) => r.regression && r.name !== 'run status');
    report.baseline = {
      file: flags.baseline,
      compared: baselineRows.length,
      regressions: regressions.map((r) => ({ name: r.name, change: r.change })),
      metrics: baselineRows.map((r) => ({ name: r.name, before: r.before, after: r.after, change: r.change, verdict: r.verdict, regression: r.regression })),
    };
    report.run.status = runStatus({ interrupted: false, failed: false, gates, regressions: regressions.length });
  }
  return { report, baselineRows };
}

/**
 * The journal's end, then the reports, the JUnit XML and the deliverables. The end goes first: it is
 * one short line, and once it is there the next run cannot take this one for an interrupted run,
 * whatever happens to the reports. Every write is attempted; those the disk refused are returned,
 * to be reported together after the summary.
 */
async function writeRunFiles(report: Report, run: OpenRun, finishedAt: Date, baselineRows: MetricChange[], delivery: Delivery, flags: RunFlags): Promise<{ unwritten: QrunError[]; junitFile?: string }> {
  const journal = run.journal;
  const unwritten: QrunError[] = [];
  const attempt = async (write: () => unknown) => {
    try {
      await write();
    } catch (e) {
      if (!(e instanceof QrunError)) throw e;
      unwritten.push(e);
    }
  };
  await attempt(() => guardDiskFullSync('the run journal', journal.file, () => journal.end({ event: 'end', status: report.run.status, at: finishedAt.toISOString() })));
  await run.runLock.release();
  await attempt(() => writeFileAtomic(join(journal.dir, 'report.json'), JSON.stringify(report, null, 2) + '\n', 'the run report'));
  await attempt(() => writeFileAtomic(join(journal.dir, 'report.md'), renderMarkdown(report), 'the run report'));
  await attempt(async () => writeFileAtomic(join(journal.dir, 'report.html'), renderHtml(report, await readHtmlExtras(report, join(run.root, 'cache'))), 'the run report'));
  const junitFile = flags.junit ?? (flags.ci ? join(journal.dir, 'junit.xml') : undefined);
  if (junitFile) await attempt(() => writeFileAtomic(junitFile, renderJunit(report, junitCases(report, baselineRows)), 'the JUnit XML'));
  await attempt(() => delivery.commit(journal.dir));
  return { unwritten, junitFile };
}

/** The summary on stdout, verdict first: the FP32-vs-INT8 table, the cache line, skips, gates, the baseline, where the reports and deliverables are. */
function printSummary(
  s: { recipe: Recipe; report: Report; outcome: StepsOutcome; selected: number; baselineRows: MetricChange[]; junitFile?: string; unwritten: QrunError[]; reportMd: string; deliveryLine: string },
  flags: RunFlags,
  io: Output,
): void {
  const { recipe, report, outcome, junitFile, unwritten, reportMd } = s;
  io.out('');
  io.out(verdictLine(report));
  const rows = summaryRows(report);
  if (rows.length) io.out('\n' + formatTable(['', 'FP32', quantizedLabel(report), ''], rows.map((r) => [r.label, r.fp32, r.int8, r.change])));
  const hits = report.cache.hits;
  const cacheLine =
    !outcome.failure && hits === s.selected - report.cache.skipped
      ? `all ${hits} cacheable steps were cache hits${report.cache.skipped ? `, ${report.cache.skipped} skipped` : ''} (results are from the run that built them)`
      : `${report.cache.ran} step(s) ran, ${hits} cache hit(s), ${report.cache.skipped} skipped${report.cache.failed ? `, ${report.cache.failed} failed` : ''}`;
  io.out('');
  io.out(`${recipe.name}${recipe.variant ? ` [${recipe.variant.label}]` : ''}: ${cacheLine} in ${(report.run.durationMs / 1000).toFixed(1)} s`);
  for (const r of outcome.records.filter((x) => x.status === 'skipped')) io.out(`skipped ${r.id}: ${r.skipped?.reason}${r.skipped?.fix ? ` — ${r.skipped.fix}` : ''}`);
  for (const g of report.gates) {
    if (g.notEvaluated) io.out(`gate ${g.metric} ${g.op} ${g.value}: not evaluated (step not run in this invocation)`);
    else io.out(`gate ${g.metric} ${g.op} ${g.value}: ${g.actual === null ? 'metric missing' : g.actual.toFixed(4)} — ${g.pass ? 'pass' : 'FAIL'}`);
  }
  if (flags.baseline && !outcome.failure) io.out(baselineLine(flags.baseline, s.baselineRows));
  if (junitFile && !unwritten.some((e) => e.diagnostics[0]?.message.includes(junitFile))) io.out(`junit: ${relative(process.cwd(), junitFile)}`);
  io.out(unwritten.length ? `report: not written in full (${reportMd}): see the error below` : `report: ${reportMd} (and report.html)`);
  io.out(s.deliveryLine);
}

/**
 * The error a run ends with, plus the files the disk refused: one QrunError with every diagnostic,
 * keeping the primary error's exit code (an interrupted run still exits 130/143). A primary error
 * that is not a QrunError (a bug) is thrown as it is, after the refused writes are printed.
 */
function withUnwritten(primary: unknown, unwritten: QrunError[], io: Output): unknown {
  if (unwritten.length === 0) return primary;
  const extra = unwritten.flatMap((e) => e.diagnostics);
  if (primary === undefined) return new QrunError(extra, EXIT.stepFailed);
  if (primary instanceof QrunError) return new QrunError([...primary.diagnostics, ...extra], primary.exitCode, { cause: primary });
  for (const d of extra) io.err(formatDiagnostic(d));
  return primary;
}
