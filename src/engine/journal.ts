// The run journal: .qrun/runs/<id>/journal.jsonl, one JSON line per event, appended and flushed as
// steps finish. A run without an "end" line was interrupted; the next run of the same recipe says
// so and resumes — finished steps are cache hits, the first unfinished one runs again.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type JournalEvent =
  | { event: 'start'; runId: string; recipe: string; variant?: string; recipeHash: string; pid: number; at: string }
  | { event: 'step'; id: string; status: string; key?: string; durationMs: number }
  | { event: 'end'; status: 'ok' | 'failed' | 'interrupted'; at: string };

export class RunJournal {
  readonly file: string;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, 'journal.jsonl');
  }

  append(e: JournalEvent): void {
    appendFileSync(this.file, JSON.stringify(e) + '\n');
  }
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

/** The latest earlier run of this recipe, if it never reached its end. */
export function findInterruptedRun(runsDir: string, recipeFile: string, variant?: string): InterruptedRun | undefined {
  if (!existsSync(runsDir)) return undefined;
  const ids = readdirSync(runsDir).sort().reverse();
  for (const id of ids) {
    const file = join(runsDir, id, 'journal.jsonl');
    if (!existsSync(file)) continue;
    const events = readJournal(file);
    const start = events.find((e) => e.event === 'start');
    if (!start || start.event !== 'start' || start.recipe !== recipeFile || start.variant !== variant) continue;
    if (events.some((e) => e.event === 'end')) return undefined;
    return {
      runId: id,
      finishedSteps: events.filter((e): e is Extract<JournalEvent, { event: 'step' }> => e.event === 'step' && (e.status === 'ran' || e.status === 'hit')).map((e) => e.id),
    };
  }
  return undefined;
}

export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '');
  return `${stamp}-${process.pid}`;
}
