// Polls a condition while a child process works. Rejects, failing the test, when the condition never
// holds, when checking it throws, or when `child` (if given) ends first; the message then carries
// the child's output so the failure explains itself.
import type { ResultPromise } from 'execa';

export function waitFor(cond: () => boolean, what: string, options: { timeoutMs?: number; child?: ResultPromise } = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const t0 = Date.now();
  let ended: string | undefined;
  options.child?.then(
    (r) => (ended = `the process ended first (exit ${r.exitCode ?? r.signal}):\n${String(r.stdout)}\n${String(r.stderr)}`),
    (e: unknown) => (ended = `the process ended first: ${String(e)}`),
  );
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      try {
        if (cond()) {
          clearInterval(timer);
          resolve();
        } else if (ended !== undefined || Date.now() - t0 > timeoutMs) {
          clearInterval(timer);
          reject(new Error(`waiting for ${what}: ${ended ?? `timed out after ${timeoutMs} ms`}`));
        }
      } catch (e) {
        clearInterval(timer);
        reject(e);
      }
    }, 20);
  });
}
