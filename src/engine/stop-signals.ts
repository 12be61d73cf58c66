// SIGINT (Ctrl-C) and SIGTERM (docker stop, Kubernetes, systemd, `timeout`) stop a run the same
// way. The run's AbortSignal is aborted; the running plugin stops (the command plugin's tool and the
// torch worker get SIGTERM from execa's cancelSignal, then SIGKILL if they linger); the executor
// discards the step's build folder and releases its lock; the journal records the end as
// interrupted and the report is written. The exit code is the shell's 128 + signal number (130,
// 143), which is what a supervisor expects of a process its signal ended.
//
// Cleanup takes a moment and should not need a second signal; if one comes anyway (an impatient
// Ctrl-C, a supervisor escalating), qrun exits at once.
import { exitCodeOfSignal } from '../errors.ts';
import { exitNow } from './process-exit.ts';

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const satisfies NodeJS.Signals[];

export interface StopSignals {
  /** Aborted by the first signal: the executor hands it to every step. */
  readonly signal: AbortSignal;
  /** The first signal received, if any. */
  received(): NodeJS.Signals | undefined;
  /** Removes the handlers: a signal after this has Node's default effect. */
  dispose(): void;
}

export function listenForStopSignals(say: (line: string) => void): StopSignals {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const handler = (signal: NodeJS.Signals) => {
    if (received) {
      say(`qrun: ${signal} again: exiting now, without waiting for the cleanup`);
      // listr2's renderer hides the cursor while it draws; give it back before leaving.
      if (process.stderr.isTTY) process.stderr.write('\x1b[?25h');
      exitNow(exitCodeOfSignal(signal));
    }
    received = signal;
    say(`qrun: ${signal} received: stopping the running step and cleaning up (${signal} again exits at once)`);
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  for (const s of STOP_SIGNALS) process.on(s, handler);
  return {
    signal: controller.signal,
    received: () => received,
    dispose: () => {
      for (const s of STOP_SIGNALS) process.removeListener(s, handler);
    },
  };
}
