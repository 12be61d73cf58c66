// The run journal: .qrun/runs/<id>/journal.jsonl, one JSON line per event, appended and flushed as
// steps finish. A run without an "end" line either is still running or was interrupted. A live run
// holds a lock on its folder (runs/<id>/run.lock, kept fresh by heartbeats) for its whole life; the
// next run of the same recipe resumes only a run that is not live — finished steps are cache hits,
// the first unfinished one runs again — and `qrun cache gc` keeps what live runs use.
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { acquireLock, inspectLock, processGone, processIdentity, type HeldLock } from '../cache/lock.ts';
import type { Report } from '../report/build-report.ts';

export type StartEvent = {
  event: 'start';
  runId: string;
  /** One per `qrun run` invocation: the variants of a matrix share it (gc's --keep-last counts invocations). */
  invocation?: string;
  recipe: string;
  variant?: string;
  recipeHash: string;
  pid: number;
  /** Where `pid` means something (see src/cache/lock.ts): a PID is conclusive only there. */
  host?: string;
  pidSpace?: string;
  startTicks?: number;
  at: string;
};

export type JournalEvent =
  | StartEvent
  | { event: 'step'; id: string; status: string; key?: string; durationMs: number }
  | { event: 'end'; status: Report['run']['status']; at: string };

export const RUN_LOCK = 'run.lock';

/**
 * An empty file beside the journal that says the run ended when its end line could not be appended
 * (a full disk): creating an empty file takes an inode, not a data block, so it still works where
 * the append failed, and the next run does not "resume" a run that finished its steps.
 */
export const END_MARKER = 'ended';

/** Whether a run reached its end: an end event, or the marker written when the event did not fit. */
export function runEnded(runDir: string, events: JournalEvent[]): boolean {
  return events.some((e) => e.event === 'end') || existsSync(join(runDir, END_MARKER));
}

export class RunJournal {
  readonly file: string;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, 'journal.jsonl');
  }

  /** Takes the run folder's lock; hold it until the end event is written. */
  lock(): Promise<HeldLock> {
    return acquireLock(join(this.dir, RUN_LOCK));
  }

  append(e: JournalEvent): void {
    appendFileSync(this.file, JSON.stringify(e) + '\n');
  }

  /** Appends the end event; when that fails (a full disk), leaves END_MARKER instead and rethrows. */
  end(e: Extract<JournalEvent, { event: 'end' }>): void {
    try {
      this.append(e);
    } catch (error) {
      try {
        closeSync(openSync(join(this.dir, END_MARKER), 'w'));
      } catch {
        // Not even an inode left: the next run will offer to resume this one, which is harmless.
      }
      throw error;
    }
  }
}

/** The identity fields of a start event, for this process. */
export function startIdentity(): Pick<StartEvent, 'pid' | 'host' | 'pidSpace' | 'startTicks'> {
  const me = processIdentity();
  return { pid: me.pid, host: me.host, ...(me.pidSpace ? { pidSpace: me.pidSpace } : {}), ...(me.startTicks !== undefined ? { startTicks: me.startTicks } : {}) };
}

export interface InterruptedRun {
  runId: string;
  finishedSteps: string[];
}

/** The events of a journal file; a line cut by a crash is skipped. */
export function readJournal(file: string): JournalEvent[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as JournalEvent];
      } catch {
        return []; // a line cut by a crash
      }
    });
}

/**
 * Whether the run in `runDir` (whose journal has no end) is still running, here or on another host:
 * its folder lock is fresh and its holder not provably gone. A run without a lock folder (an
 * earlier qrun version, or a run whose lock was lost) is live only if the PID its journal records
 * is, conclusively, still that process on this host.
 */
export async function isRunLive(runDir: string, start: StartEvent | undefined): Promise<boolean> {
  const lock = await inspectLock(join(runDir, RUN_LOCK));
  if (lock.state !== 'free') return lock.state === 'held';
  if (!start?.host || !start.pidSpace) return false;
  return processGone({ pid: start.pid, host: start.host, pidSpace: start.pidSpace, startTicks: start.startTicks }) === undefined;
}

/**
 * The latest earlier run of this recipe, if it never reached its end and is not running now. When
 * that run is live (another `qrun` of the same recipe at the same time) there is nothing to resume.
 */
export async function findInterruptedRun(runsDir: string, recipeFile: string, variant?: string): Promise<InterruptedRun | undefined> {
  if (!existsSync(runsDir)) return undefined;
  const ids = readdirSync(runsDir).sort().reverse();
  for (const id of ids) {
    const file = join(runsDir, id, 'journal.jsonl');
    if (!existsSync(file)) continue;
    const events = readJournal(file);
    const start = events.find((e): e is StartEvent => e.event === 'start');
    if (!start || start.recipe !== recipeFile || start.variant !== variant) continue;
    if (runEnded(join(runsDir, id), events)) return undefined;
    if (await isRunLive(join(runsDir, id), start)) return undefined;
    return {
      runId: id,
      finishedSteps: events.filter((e): e is Extract<JournalEvent, { event: 'step' }> => e.event === 'step' && (e.status === 'ran' || e.status === 'hit')).map((e) => e.id),
    };
  }
  return undefined;
}

/** A run folder as `qrun cache gc` sees it. */
export interface RunSummary {
  id: string;
  dir: string;
  /** The `qrun run` invocation it belongs to (its own id for runs of earlier qrun versions). */
  invocation: string;
  startedAt?: string;
  /** The cache keys of its finished steps. */
  keys: Set<string>;
  ended: boolean;
  live: boolean;
}

/** Every run folder with a journal, newest first (run ids start with their UTC start time). */
export async function listRuns(runsDir: string): Promise<RunSummary[]> {
  if (!existsSync(runsDir)) return [];
  const out: RunSummary[] = [];
  for (const id of readdirSync(runsDir).sort().reverse()) {
    const dir = join(runsDir, id);
    const file = join(dir, 'journal.jsonl');
    if (!existsSync(file)) continue;
    const events = readJournal(file);
    const start = events.find((e): e is StartEvent => e.event === 'start');
    const ended = runEnded(dir, events);
    out.push({
      id,
      dir,
      invocation: start?.invocation ?? id,
      startedAt: start?.at,
      keys: new Set(events.flatMap((e) => (e.event === 'step' && e.key ? [e.key] : []))),
      ended,
      live: !ended && (await isRunLive(dir, start)),
    });
  }
  return out;
}

export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '');
  return `${stamp}-${process.pid}`;
}
