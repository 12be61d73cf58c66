// The TS side of the JSON-lines protocol against a real Python process: a small worker module that
// serves requests with qrun_worker.protocol (the real worker's loop) and canned methods.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StepEvent } from '../../src/engine/plugin.ts';
import { QrunError } from '../../src/errors.ts';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { callWorker } from './worker-client.ts';

const dir = useTempDir();
const pkg = join(dir, 'fake');
mkdirSync(pkg);
writeFileSync(
  join(pkg, 'fake_worker.py'),
  `import os, sys
from qrun_worker.protocol import Channel, WorkerError, protocol_stdout, serve

def parse_scale(text):
    return float(text) / 0

def dispatch(method, params, emit):
    if method == "ok":
        emit("half way", done=1, total=2)
        emit("a warning", level="warn")
        print("stray output from a library")
        return {"answer": params["x"] * 2}
    if method == "raise":
        return parse_scale("3")
    if method == "user-error":
        raise WorkerError("DATA_MISSING", 'data set "train" was not loaded', "add it under data:")
    if method == "die":
        sys.stderr.write("Segmentation fault in a native extension\\n")
        sys.stderr.flush()
        os._exit(3)

out = protocol_stdout()
sys.exit(1 if serve(sys.stdin, Channel(out), dispatch) else 0)
`,
);

function call(method: string, params: Record<string, unknown> = {}) {
  const events: StepEvent[] = [];
  const promise = callWorker({
    python: 'python3',
    method,
    params,
    module: 'fake_worker',
    pythonPath: pkg,
    logDir: join(dir, 'logs'),
    ctx: { stepId: 'qat', emit: (e) => events.push(e), signal: new AbortController().signal },
  });
  return { events, promise };
}

describe('callWorker', () => {
  it('maps events to ctx.emit and returns the result', async () => {
    const { events, promise } = call('ok', { x: 21 });
    expect(await promise).toEqual({ answer: 42 });
    expect(events).toEqual([
      { type: 'progress', message: 'half way', done: 1, total: 2 },
      { type: 'log', level: 'warn', message: 'a warning' },
    ]);
  });

  it('an exception becomes a QrunError with the last frame and the exception; the traceback goes to a log', async () => {
    const e = (await call('raise').promise.catch((x) => x)) as QrunError;
    expect(e).toBeInstanceOf(QrunError);
    expect(e.code).toBe('TORCH_WORKER_FAILED');
    expect(e.message).toMatch(/^torch worker raise failed: fake_worker\.py:\d+ in parse_scale: ZeroDivisionError: float division by zero\n {2}full traceback: (.*\.log)$/);
    const log = readFileSync(/full traceback: (.*\.log)/.exec(e.message)![1]!, 'utf8');
    expect(log).toMatch(/Traceback \(most recent call last\)/);
    expect(log).toMatch(/in dispatch[\s\S]*in parse_scale/);
  });

  it("a WorkerError keeps the worker's code and hint", async () => {
    const e = (await call('user-error').promise.catch((x) => x)) as QrunError;
    expect(e.code).toBe('DATA_MISSING');
    expect(e.diagnostics[0]!.hint).toBe('add it under data:');
  });

  it('a worker that dies without answering: exit code and the end of stderr', async () => {
    const e = (await call('die').promise.catch((x) => x)) as QrunError;
    expect(e.code).toBe('TORCH_WORKER_FAILED');
    expect(e.message).toMatch(/^torch worker die exited with code 3 without a result\n {2}last lines of its stderr:\n {4}Segmentation fault in a native extension\n {2}full log: .*\.log$/);
    expect(existsSync(join(dir, 'logs'))).toBe(true);
  });
});
