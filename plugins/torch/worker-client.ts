// Runs one request through the Python worker (`python -m qrun_worker`) and returns its result.
// The protocol is JSON lines (qrun_worker/protocol.py): the request and a shutdown go to stdin;
// stdout carries events (→ ctx.emit), then a result or an error. An error comes back as a QrunError
// whose message is the traceback's last frame and exception; the whole traceback and the worker's
// stderr go to a log file outside the cache (a failed step's build folder is deleted), named in
// the message.
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { StepContext, StepEvent } from '../../src/engine/plugin.ts';
import { torchErrors } from './errors.ts';
import { WORKER_DIR, workerEnv } from './worker-dir.ts';

export interface WorkerError {
  type: string;
  message: string;
  summary: string;
  traceback: string;
  code?: string;
  hint?: string;
}

export interface WorkerCall {
  python: string;
  method: string;
  params: Record<string, unknown>;
  ctx: Pick<StepContext, 'stepId' | 'emit' | 'signal'>;
  /** Python module to run (tests use a fake worker). */
  module?: string;
  /** Extra folder on PYTHONPATH, before the worker's (tests). */
  pythonPath?: string;
  env?: NodeJS.ProcessEnv;
  /** Where failure logs go; default <os tmp>/qrun-torch-logs. */
  logDir?: string;
}

type Answer = { id: unknown; event?: StepEvent; result?: Record<string, unknown>; error?: WorkerError };

const STDERR_LIMIT = 4 * 1024 * 1024;

async function writeLog(call: WorkerCall, body: string): Promise<string | undefined> {
  try {
    const dir = call.logDir ?? join(tmpdir(), 'qrun-torch-logs');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `${call.ctx.stepId.replace(/[^\w.-]+/g, '_')}-${call.method}-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.log`);
    await writeFile(file, body);
    return file;
  } catch {
    return undefined;
  }
}

export async function callWorker(call: WorkerCall): Promise<Record<string, unknown>> {
  const env = workerEnv(call.env ?? process.env);
  if (call.pythonPath) env.PYTHONPATH = `${call.pythonPath}:${env.PYTHONPATH}`;
  const request = { id: 1, method: call.method, params: call.params };
  const subprocess = execa(call.python, ['-m', call.module ?? 'qrun_worker'], {
    env,
    extendEnv: false,
    cwd: WORKER_DIR,
    input: `${JSON.stringify(request)}\n${JSON.stringify({ id: 2, method: 'shutdown' })}\n`,
    reject: false,
    cancelSignal: call.ctx.signal,
    buffer: { stdout: false, stderr: true },
    maxBuffer: { stderr: STDERR_LIMIT },
  });

  let result: Record<string, unknown> | undefined;
  let error: WorkerError | undefined;
  const stray: string[] = [];
  for await (const line of subprocess.iterable({ from: 'stdout' })) {
    const text = String(line);
    let answer: Answer;
    try {
      answer = JSON.parse(text) as Answer;
    } catch {
      stray.push(text); // not protocol: keep it for the log
      continue;
    }
    if (answer.event) call.ctx.emit(answer.event.type === 'log' ? { type: 'log', level: answer.event.level, message: answer.event.message } : answer.event);
    else if (answer.result) result = answer.result;
    else if (answer.error) error = answer.error;
  }
  const done = await subprocess;
  const stderr = String(done.stderr ?? '');
  const log = () =>
    [
      `qrun torch worker: ${call.python} -m ${call.module ?? 'qrun_worker'} (${call.method}) for step ${call.ctx.stepId}`,
      `request: ${JSON.stringify(request)}`,
      `exit: ${done.exitCode ?? done.signal ?? 'unknown'}`,
      error ? `\n--- traceback ---\n${error.traceback}` : '',
      stray.length ? `\n--- stdout (not protocol) ---\n${stray.join('\n')}` : '',
      `\n--- stderr ---\n${stderr}`,
    ].join('\n');

  if (done.isCanceled) throw new Error('interrupted');
  if (error) throw torchErrors.workerFailed(call.method, error.summary || `${error.type}: ${error.message}`, await writeLog(call, log()), error.code, error.hint);
  if (result) return result;
  const exit = done.signal ? `was killed by ${done.signal}` : `exited with code ${done.exitCode ?? '?'}`;
  const tail = stderr.trim().split('\n').filter(Boolean).slice(-8);
  throw torchErrors.workerDied(call.method, exit, tail, await writeLog(call, log()));
}
