// A trace file shared by the processes of a test (written by tests/fixtures/plugins/blocker and
// mark): one line per event, `<pid> <step> <event> <ms since epoch>`. appendFileSync opens with
// O_APPEND, so the lines of all processes are in the order the events happened; tests assert on
// that order rather than on clocks.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';

export interface TraceEvent {
  pid: number;
  step: string;
  event: string;
  at: number;
}

export function traceEvent(file: string, step: string, event: string): void {
  appendFileSync(file, `${process.pid} ${step} ${event} ${(performance.timeOrigin + performance.now()).toFixed(3)}\n`);
}

export function readTrace(file: string): TraceEvent[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [pid, step, event, at] = line.split(' ');
      return { pid: Number(pid), step: step!, event: event!, at: Number(at) };
    });
}

/** Index of the first event matching, or -1: positions in the file are the order of events. */
export function traceIndex(trace: TraceEvent[], match: Partial<TraceEvent>): number {
  return trace.findIndex((e) => Object.entries(match).every(([k, v]) => e[k as keyof TraceEvent] === v));
}
