import { mkdtemp, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Artifact, StepContext, StepEvent } from '../../src/engine/plugin.ts';
import { QrunError } from '../../src/errors.ts';
import plugin from './index.ts';
import { withDefaults, type TrtexecOptions } from './options.ts';
import { FIXTURES, installFakeTrtexec } from './testing/fake-trtexec.ts';
import { writeTinyClassifier } from './testing/tiny-onnx.ts';

let root: string;
let modelPath: string;
let events: StepEvent[];

function context(name: string): StepContext & { outDir: string } {
  return {
    stepId: 'engine',
    outDir: join(root, name, 'out'),
    recipeDir: root,
    tmpDir: join(root, name, 'tmp'),
    signal: new AbortController().signal,
    emit: (e) => events.push(e),
    artifactOf: () => undefined,
  };
}

async function run(options: Partial<TrtexecOptions>, name = 'step') {
  const ctx = context(name);
  await mkdir(ctx.outDir, { recursive: true });
  await mkdir(ctx.tmpDir, { recursive: true });
  const model: Artifact = { kind: 'qdq-model', path: modelPath, sha256: 'test', size: 0 };
  const result = await plugin.run(withDefaults(options), { model }, {}, ctx);
  return { ctx, result: result ?? {} };
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'qrun-trtexec-'));
  await mkdir(join(root, 'bin'));
  await mkdir(join(root, 'empty'));
  modelPath = await writeTinyClassifier(root);
  events = [];
  // No real trtexec or nvidia-smi may leak in from the machine running the tests.
  vi.stubEnv('PATH', join(root, 'empty'));
  vi.stubEnv('QRUN_TRTEXEC', '');
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await rm(root, { recursive: true, force: true });
});

describe('trtexec plugin', () => {
  it('runs trtexec with the model, the shapes of its real inputs and the precision flags', async () => {
    const fake = await installFakeTrtexec(join(root, 'bin'), { log: join(FIXTURES, 'trtexec-10-int8-build.log') });
    const { ctx, result } = await run({ trtexec: fake.path, workspaceMiB: 2048 });

    const calls = await fake.calls();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.cwd).toBe(ctx.outDir);
    expect(calls[0]!.args).toEqual([
      `--onnx=${modelPath}`,
      '--saveEngine=model.plan',
      '--minShapes=input_ids:1x16,attention_mask:1x16',
      '--optShapes=input_ids:8x128,attention_mask:8x128',
      '--maxShapes=input_ids:32x256,attention_mask:32x256',
      '--int8',
      '--fp16',
      '--memPoolSize=workspace:2048M',
      '--timingCacheFile=timing.cache',
    ]);

    expect(result.skipped).toBeUndefined();
    const m = result.metrics!;
    expect(m.command).toBe(`${fake.path} ${calls[0]!.args.join(' ')}`);
    expect(m.tensorrtVersion).toBe('10.6.0');
    expect(m.throughputQps).toBe(10801.9);
    expect(m.latencyMs).toMatchObject({ median: 0.0566406, p99: 0.0654297 });
    expect(m.gpuComputeMs).toMatchObject({ mean: 0.0290283 });
    expect(m.engineBuildSeconds).toBe(1.90412);
    expect(m.shapes).toEqual({
      input_ids: { min: [1, 16], opt: [8, 128], max: [32, 256] },
      attention_mask: { min: [1, 16], opt: [8, 128], max: [32, 256] },
    });
    expect(m).not.toHaveProperty('passed');

    expect(await readFile(join(ctx.outDir, 'model.plan'), 'utf8')).toBe(`fake TensorRT plan for ${modelPath}`);
    expect((await stat(join(ctx.outDir, 'timing.cache'))).size).toBeGreaterThan(0);
    const log = await readFile(join(ctx.outDir, 'trtexec.log'), 'utf8');
    expect(log).toContain('=== Performance summary ===');
    expect(log).toContain('[W] [TRT] Calibrator won'); // stderr is in the log too
    expect(events).toContainEqual({ type: 'progress', message: 'engine built' });
  });

  it('throws with the tail of the output when trtexec fails', async () => {
    const fake = await installFakeTrtexec(join(root, 'bin'), { log: join(FIXTURES, 'trtexec-10-parse-error.log'), exitCode: 1 });
    const error = await run({ trtexec: fake.path }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QrunError);
    const err = error as QrunError;
    expect(err.code).toBe('TRTEXEC_FAILED');
    expect(err.message).toContain('trtexec exited with code 1');
    expect(err.message).toContain('Invalid Node - to_float');
    expect(err.message).toContain('&&&& FAILED TensorRT.trtexec');
    expect(err.message).toContain(`command: ${fake.path} --onnx=${modelPath}`);
    expect(err.diagnostics[0]!.hint).toMatch(/\[E\]/);
    expect(events.some((e) => e.type === 'log' && e.message.includes('Parsing model failed'))).toBe(true);
  });

  it('keeps only the last 20 lines of a long failure', async () => {
    const fake = await installFakeTrtexec(join(root, 'bin'), { log: join(FIXTURES, 'trtexec-10-int8-build.log'), exitCode: 3 });
    const err = (await run({ trtexec: fake.path }).catch((e: unknown) => e)) as QrunError;
    expect(err.message).toContain('last 20 lines of its output');
    expect(err.message).not.toContain('=== Model Options ===');
    expect(err.message).toContain('&&&& PASSED'); // the last line, whatever the exit code said
  });

  it('skips with the reason, the fix and the command it would have run when trtexec is absent', async () => {
    const { ctx, result } = await run({});
    expect(result.skipped).toEqual({
      reason: 'trtexec not found on PATH',
      fix: expect.stringMatching(/install TensorRT .*put trtexec on PATH, or set QRUN_TRTEXEC=\/path\/to\/trtexec/),
    });
    expect(result.metrics?.command).toBe(
      `trtexec --onnx=${modelPath} --saveEngine=model.plan --minShapes=input_ids:1x16,attention_mask:1x16 --optShapes=input_ids:8x128,attention_mask:8x128 --maxShapes=input_ids:32x256,attention_mask:32x256 --int8 --fp16 --timingCacheFile=timing.cache`,
    );
    await expect(stat(join(ctx.outDir, 'model.plan'))).rejects.toThrow();
  });

  it('names a configured path that is not executable in the skip', async () => {
    const { result } = await run({ trtexec: join(root, 'nowhere', 'trtexec') });
    expect(result.skipped?.reason).toBe(`trtexec not found: ${join(root, 'nowhere', 'trtexec')} (from the step option \`trtexec\`) is not an executable file`);
  });

  it('finds trtexec on PATH and through QRUN_TRTEXEC', async () => {
    const fake = await installFakeTrtexec(join(root, 'bin'), { log: join(FIXTURES, 'trtexec-10-int8-build.log') });
    vi.stubEnv('PATH', join(root, 'bin'));
    expect((await run({}, 'on-path')).result.metrics?.throughputQps).toBe(10801.9);
    vi.stubEnv('PATH', join(root, 'empty'));
    vi.stubEnv('QRUN_TRTEXEC', fake.path);
    expect((await run({}, 'from-env')).result.skipped).toBeUndefined();
    expect(await fake.calls()).toHaveLength(2);
  });

  it('fingerprints the TensorRT version, or says trtexec is absent', async () => {
    expect(await plugin.fingerprint!(withDefaults({}))).toEqual({ trtexec: 'absent' });
    const fake = await installFakeTrtexec(join(root, 'bin'), { log: join(FIXTURES, 'trtexec-10-int8-build.log') });
    // No nvidia-smi on this PATH: the GPU is unknown rather than a guess.
    expect(await plugin.fingerprint!(withDefaults({ trtexec: fake.path }))).toEqual({ tensorrt: '10.6.0', gpu: 'unknown' });
    expect((await fake.calls())[0]!.args).toEqual(['--help']);
  });
});
