// Signals through the real CLI: SIGTERM (docker stop, Kubernetes, systemd, `timeout`) ends a run the
// way Ctrl-C does — the step stops, its build folder and lock go, the journal and the report say
// interrupted — and exits 128 + the signal's number. Children of plugins (the command plugin's tool,
// the torch worker) are real processes here, and must be gone when qrun has exited.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CacheStore } from '../../src/cache/store.ts';
import { readJournal } from '../../src/engine/journal.ts';
import { qrun, REPO, startQrun, tempDir } from '../helpers/cli.ts';
import { latestReport, step } from '../helpers/report.ts';
import { waitFor } from '../helpers/wait-for.ts';

const HOLD = join(REPO, 'tests/fixtures/plugins/hold');

/** Whether a process runs (a zombie does not: it has exited and only waits to be reaped). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** first: a step that finishes at once; then `second`: a step given as YAML. */
function recipe(dir: string, second: string): string {
  const file = join(dir, 'recipe.yaml');
  writeFileSync(join(dir, 'go-first'), '');
  writeFileSync(
    file,
    `name: signals
steps:
  - { id: first, uses: ${HOLD}, with: { started: ${join(dir, 'first.started')}, release: ${join(dir, 'go-first')} } }
${second}`,
  );
  return file;
}

const holdSecond = (dir: string, extra = '') => `  - { id: second, uses: ${HOLD}, with: { started: ${join(dir, 'second.started')}, release: ${join(dir, 'go-second')}${extra} } }\n`;

describe('SIGTERM is handled as SIGINT is', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('%s stops the step, discards its build folder, releases its lock, journals and reports interrupted, exits %i', async (signal, code) => {
    const dir = tempDir();
    const cache = join(dir, 'c');
    const file = recipe(dir, holdSecond(dir));
    const child = startQrun([file, '--cache', cache], { forceKillAfterDelay: false });
    await waitFor(() => existsSync(join(dir, 'second.started')), 'the second step started', { child: child });
    child.kill(signal);
    const r = await child;
    expect(r.exitCode).toBe(code);
    expect(String(r.stderr)).toContain(`error INTERRUPTED: interrupted by ${signal}`);

    const store = new CacheStore(join(cache, 'cache'));
    expect(readdirSync(store.tmpDir)).toEqual([]);
    expect(readdirSync(store.locksDir)).toEqual([]);
    expect(await store.keys()).toHaveLength(1);
    const { report, dir: runDir } = latestReport(cache);
    expect(report.run.status).toBe('interrupted');
    expect(report.run.signal).toBe(signal);
    expect(readdirSync(runDir).filter((f) => f.endsWith('.lock'))).toEqual([]);
    expect(readJournal(join(runDir, 'journal.jsonl')).at(-1)).toMatchObject({ event: 'end', status: 'interrupted' });
    expect(readFileSync(join(runDir, 'report.md'), 'utf8')).toContain(`**⚠ INTERRUPTED** — stopped by ${signal} during step "second"`);
    expect(String(r.stdout)).toMatch(new RegExp(`\\n⚠ INTERRUPTED — stopped by ${signal} during step "second"`));

    // The next run takes the finished step from the cache and runs the stopped one.
    writeFileSync(join(dir, 'go-second'), '');
    const again = await qrun([file, '--cache', cache]);
    expect(again.exitCode).toBe(0);
    const next = latestReport(cache).report;
    expect([step(next, 'first').status, step(next, 'second').status]).toEqual(['hit', 'ran']);
  });

  it.each([
    ['ends on SIGTERM', ''],
    ['ignores SIGTERM (execa follows with SIGKILL)', "process.on('SIGTERM', () => {});"],
  ])('stops the command plugin\'s tool, a child process that %s', async (_what, trap) => {
    const dir = tempDir();
    const pidFile = join(dir, 'tool.pid');
    const script = `${trap} require('fs').writeFileSync(process.argv[1], String(process.pid)); setInterval(() => {}, 1000);`;
    const file = recipe(dir, `  - id: tool\n    uses: command\n    with:\n      run: [node, -e, ${JSON.stringify(script)}, ${pidFile}]\n      versionArgs: []\n`);
    const child = startQrun([file, '--cache', join(dir, 'c')], { forceKillAfterDelay: false });
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8') !== '', 'the tool started', { child: child });
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(alive(pid)).toBe(true);
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode).toBe(143);
    expect(alive(pid)).toBe(false);
    expect(readdirSync(join(dir, 'c', 'cache', 'tmp'))).toEqual([]);
  });

  it('stops the torch plugin\'s Python worker', async () => {
    const dir = tempDir();
    const pidFile = join(dir, 'worker.pid');
    // A worker module that never answers, like a long training loop.
    mkdirSync(join(dir, 'py'));
    // An ES module plugin, as execa (which callWorker uses) is ESM-only.
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    writeFileSync(join(dir, 'py', 'sleepy_worker.py'), `import os, time\nopen(${JSON.stringify(pidFile)}, "w").write(str(os.getpid()))\nwhile True:\n    time.sleep(1)\n`);
    writeFileSync(
      join(dir, 'worker-step.ts'),
      `import { callWorker } from ${JSON.stringify(join(REPO, 'plugins/torch/worker-client.ts'))};
export default {
  name: 'worker-step',
  version: '1.0.0',
  description: 'One torch worker call (tests only)',
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  inputs: {},
  outputs: {},
  async run(_o: unknown, _i: unknown, _s: unknown, ctx: any) {
    await callWorker({ python: 'python3', method: 'train', params: {}, module: 'sleepy_worker', pythonPath: ${JSON.stringify(join(dir, 'py'))}, ctx });
    return {};
  },
};
`,
    );
    const file = recipe(dir, '  - { id: train, uses: ./worker-step.ts }\n');
    const child = startQrun([file, '--cache', join(dir, 'c')], { forceKillAfterDelay: false });
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8') !== '', 'the worker started', { child: child });
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(alive(pid)).toBe(true);
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode).toBe(143);
    expect(String(r.stderr)).toContain('error INTERRUPTED: interrupted by SIGTERM');
    // The step failed because its worker call was cut short by the signal, not by anything else.
    const [runId] = readdirSync(join(dir, 'c', 'runs'));
    const report = JSON.parse(readFileSync(join(dir, 'c', 'runs', runId!, 'report.json'), 'utf8')) as { run: { status: string }; steps: { id: string; status: string; error?: string }[] };
    expect(report.run.status).toBe('interrupted');
    expect(report.steps.find((s) => s.id === 'train')).toMatchObject({ status: 'failed', error: expect.stringMatching(/interrupted/) });
    expect(alive(pid)).toBe(false);
  });

  it('a second signal during the cleanup exits at once; locks still go, and the run is left to resume', async () => {
    const dir = tempDir();
    const cache = join(dir, 'c');
    // A step that ignores its AbortSignal (stuck in native code): the cleanup waits for it.
    const file = recipe(dir, holdSecond(dir, ', ignoreSignal: true'));
    const child = startQrun([file, '--cache', cache], { forceKillAfterDelay: false });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitFor(() => existsSync(join(dir, 'second.started')), 'the second step started', { child: child });
    child.kill('SIGTERM');
    await waitFor(() => stderr.includes('SIGTERM received'), 'qrun took the first SIGTERM', { child: child });
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode).toBe(143);
    expect(stderr).toContain('qrun: SIGTERM again: exiting now, without waiting for the cleanup');
    // proper-lockfile's exit hook released the step's lock; the run never wrote its end.
    expect(readdirSync(join(cache, 'cache', 'locks'))).toEqual([]);
    const runs = readdirSync(join(cache, 'runs'));
    expect(readJournal(join(cache, 'runs', runs[0]!, 'journal.jsonl')).some((e) => e.event === 'end')).toBe(false);
    writeFileSync(join(dir, 'go-second'), '');
    const again = await qrun([file, '--cache', cache]);
    expect(again.exitCode).toBe(0);
    expect(again.stderr).toMatch(/resuming after interrupted run \S+ \(1 step\(s\) finished and cached: first\)/);
  });
});

