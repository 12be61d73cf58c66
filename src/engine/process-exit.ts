// Plugins run inside qrun's own process. One that calls process.exit — code ported from a CLI
// script, or "exit(0) when there is nothing to do" — would end qrun on the spot: exit code 0, no
// report, no gate checked, a silent pass in CI. So:
// - while a plugin's run() is in flight, process.exit throws PLUGIN_EXITED instead of exiting (vitest
//   does the same in its test workers: "process.exit unexpectedly called"), and the step fails the
//   ordinary way (build folder discarded, lock released, report written, exit 1), even when the
//   plugin catches what was thrown or made the call from a callback;
// - as a backstop, cli.ts installs an 'exit' listener: an exit before the command finished that did
//   not come from qrun itself prints EXITED_EARLY and forces a non-zero exit code.
import { fileURLToPath } from 'node:url';
import { errors, type QrunError, type SourceLocation } from '../errors.ts';

// The real exit, taken before any guard replaces process.exit.
const nodeExit: (code?: number) => never = process.exit.bind(process);
let deliberate = false;

/** qrun's own immediate exit (a second Ctrl-C): passes every guard and the backstop. */
export function exitNow(code: number): never {
  deliberate = true;
  return nodeExit(code);
}

const THIS_FILE = fileURLToPath(import.meta.url);

/** file:line:col of the first stack frame outside this file: where the plugin called process.exit. */
function callSite(stack: string | undefined): SourceLocation | undefined {
  for (const line of (stack ?? '').split('\n').slice(1)) {
    const m = /\(?((?:file:\/\/)?\/[^()]*?):(\d+):(\d+)\)?\s*$/.exec(line.trim());
    if (!m) continue;
    const file = m[1]!.startsWith('file://') ? fileURLToPath(m[1]!) : m[1]!;
    if (file === THIS_FILE || file.includes('/node_modules/')) continue;
    return { file, line: Number(m[2]), col: Number(m[3]) };
  }
  return undefined;
}

/**
 * Runs a plugin's run() with process.exit turned into a step failure. Resolves with what run()
 * resolves; rejects with PLUGIN_EXITED as soon as process.exit is called (from run()'s own code or
 * from a callback it set up), and also when run() caught that error and returned normally: a step that
 * tried to end the process did not finish its work, and its result must not reach the cache.
 */
export async function guardPluginExit<T>(run: () => Promise<T>): Promise<T> {
  let exited: QrunError | undefined;
  let rejectExited!: (e: QrunError) => void;
  const exitCalled = new Promise<never>((_, reject) => (rejectExited = reject));
  exitCalled.catch(() => undefined);
  const previous = process.exit;
  process.exit = ((code?: number | string | null) => {
    exited ??= errors.pluginExited(String(code ?? process.exitCode ?? 0), callSite(new Error().stack));
    rejectExited(exited);
    // Thrown, not returned: the code after the call assumed the process had ended and must not run.
    throw exited;
  }) as typeof process.exit;
  // Thrown from a timer or an event handler, the error above is uncaught: it is this step's failure
  // (already recorded), not a crash of qrun. Any other uncaught error keeps Node's default: rethrown
  // with this listener gone, so the process still prints it and exits.
  const onUncaught = (e: unknown) => {
    if (e === exited) return;
    process.removeListener('uncaughtException', onUncaught);
    process.nextTick(() => {
      throw e;
    });
  };
  process.on('uncaughtException', onUncaught);
  try {
    const running = run();
    // A run() that settles after the step already failed must not become an unhandled rejection.
    running.catch(() => undefined);
    const result = await Promise.race([running, exitCalled]);
    if (exited) throw exited;
    return result;
  } finally {
    process.exit = previous;
    process.removeListener('uncaughtException', onUncaught);
  }
}

/**
 * cli.ts's backstop: `onEarlyExit(code)` runs (synchronously, from the 'exit' event) when the process
 * exits before `finished()` was called and not through exitNow — e.g. process.exit called by a plugin
 * outside run() (when its module loaded, in fingerprint(), in a callback after its step ended). It may
 * print; the exit code is then forced to 1, so an exit(0) can never read as success.
 */
export function installExitBackstop(onEarlyExit: (code: number) => void): { finished(): void } {
  let finished = false;
  process.on('exit', (code) => {
    if (finished || deliberate) return;
    onEarlyExit(code);
    process.exitCode = 1;
  });
  return { finished: () => void (finished = true) };
}
