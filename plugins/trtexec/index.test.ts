import { mkdtemp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Artifact, StepContext, StepEvent } from '../../src/engine/plugin.ts';
import { QrunError } from '../../src/errors.ts';
import plugin from './index.ts';
import { withDefaults, type TrtexecOptions } from './options.ts';
import { FIXTURES, installFakeNvidiaSmi, installFakeTrtexec } from './testing/fake-trtexec.ts';
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

/** The profile recipes/bert-int8.yaml style recipes give. */
const SHAPES = {
  min: { batch: 1, sequence: 16 },
  opt: { batch: 8, sequence: 128 },
  max: { batch: 32, sequence: 256 },
};

const H100 = '0, GPU-11111111-2222-3333-4444-555555555555, NVIDIA H100 80GB HBM3, 9.0';
const A100 = '1, GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee, NVIDIA A100-SXM4-80GB, 8.0';

async function run(options: Partial<TrtexecOptions>, name = 'step', hfDir?: string) {
  const ctx = context(name);
  await mkdir(ctx.outDir, { recursive: true });
  await mkdir(ctx.tmpDir, { recursive: true });
  const model: Artifact = { kind: 'qdq-model', path: modelPath, sha256: 'test', size: 0 };
  const hf: Artifact | undefined = hfDir ? { kind: 'hf-model', path: hfDir, sha256: 'test', size: 0 } : undefined;
  const result = await plugin.run(withDefaults(options), hf ? { model, hf } : { model }, {}, ctx);
  return { ctx, result: result ?? {} };
}

/** Puts a fake nvidia-smi with these rows on PATH (beside whatever else `dirs` holds). */
async function withGpus(rows: string[], opts: { computeCap?: boolean } = {}, ...dirs: string[]) {
  const dir = join(root, `gpus-${Math.random().toString(36).slice(2)}`);
  await mkdir(dir);
  await installFakeNvidiaSmi(dir, rows, opts);
  vi.stubEnv('PATH', [dir, ...dirs].join(':'));
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
    const { ctx, result } = await run({ trtexec: fake.path, workspaceMiB: 2048, shapes: SHAPES });

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
    // The report shows the model as $MODEL (its cache path differs from cache to cache); the
    // progress event, like the log, has the real command.
    expect(m.command).toBe(`${fake.path} --onnx="$MODEL" ${calls[0]!.args.slice(1).join(' ')}`);
    expect(m.argv).toEqual(['--onnx="$MODEL"', ...calls[0]!.args.slice(1)]);
    expect(events).toContainEqual({ type: 'progress', message: `running ${fake.path} ${calls[0]!.args.join(' ')}` });
    expect(m.tensorrtVersion).toBe('10.6.0');
    expect(m.throughputQps).toBe(10801.9);
    expect(m.latencyMs).toMatchObject({ median: 0.0566406, p99: 0.0654297 });
    expect(m.gpuComputeMs).toMatchObject({ mean: 0.0290283 });
    expect(m.engineBuildSeconds).toBe(1.90412);
    expect(m.shapes).toEqual({
      input_ids: { min: [1, 16], opt: [8, 128], max: [32, 256] },
      attention_mask: { min: [1, 16], opt: [8, 128], max: [32, 256] },
    });
    expect(m.shapeOrigin).toEqual({ min: 'recipe', opt: 'recipe', max: 'recipe' });
    // No nvidia-smi here: the device is what trtexec's log says it used.
    expect(m.device).toEqual({ name: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0' });
    expect(m.inferenceShapes).toEqual({ attention_mask: [8, 128], input_ids: [8, 128] });
    expect(m).not.toHaveProperty('passed');
    expect(m).not.toHaveProperty('exported');
    expect(JSON.parse(await readFile(join(ctx.outDir, 'engine.json'), 'utf8'))).toEqual({
      tensorrtVersion: '10.6.0',
      device: { name: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0' },
      profiles: m.shapes,
    });

    expect(await readFile(join(ctx.outDir, 'model.plan'), 'utf8')).toBe(`fake TensorRT plan for ${modelPath}`);
    expect((await stat(join(ctx.outDir, 'timing.cache'))).size).toBeGreaterThan(0);
    const log = await readFile(join(ctx.outDir, 'trtexec.log'), 'utf8');
    expect(log).toContain('=== Performance summary ===');
    expect(log).toContain('[W] [TRT] Calibrator won'); // stderr is in the log too
    expect(events).toContainEqual({ type: 'progress', message: 'engine built' });
  });

  it('throws with the tail of the output when trtexec fails', async () => {
    const fake = await installFakeTrtexec(join(root, 'bin'), { log: join(FIXTURES, 'trtexec-10-parse-error.log'), exitCode: 1 });
    const error = await run({ trtexec: fake.path, shapes: SHAPES }).catch((e: unknown) => e);
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
    const { ctx, result } = await run({ shapes: SHAPES });
    expect(result.skipped).toEqual({
      reason: 'trtexec not found on PATH',
      fix: expect.stringMatching(/install TensorRT .*put trtexec on PATH, or set QRUN_TRTEXEC=\/path\/to\/trtexec/),
    });
    expect(result.metrics?.command).toBe(
      'trtexec --onnx="$MODEL" --saveEngine=model.plan --minShapes=input_ids:1x16,attention_mask:1x16 --optShapes=input_ids:8x128,attention_mask:8x128 --maxShapes=input_ids:32x256,attention_mask:32x256 --int8 --fp16 --timingCacheFile=timing.cache',
    );
    await expect(stat(join(ctx.outDir, 'model.plan'))).rejects.toThrow();
  });

  it('derives the profile from benchShapes and the model config when the recipe gives none', async () => {
    const hf = join(root, 'hf');
    await mkdir(hf);
    await writeFile(join(hf, 'config.json'), JSON.stringify({ max_position_embeddings: 514 }));
    await writeFile(join(hf, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 512 }));
    const benchShapes = [
      { batch: 1, sequence: 128 },
      { batch: 4, sequence: 64 },
      { batch: 2, sequence: 128 },
    ];
    const { result } = await run({ benchShapes, maxBatchSize: 16 }, 'derived', hf);
    expect(result.metrics?.argv).toEqual(
      expect.arrayContaining([
        '--minShapes=input_ids:1x1,attention_mask:1x1',
        '--optShapes=input_ids:4x64,attention_mask:4x64', // 256 elements, as 2×128, and the larger batch
        '--maxShapes=input_ids:16x512,attention_mask:16x512', // RoBERTa-style: 514 positions, 512 tokens
      ]),
    );
    expect(result.metrics?.shapeOrigin).toEqual({
      min: 'derived: batch 1 × sequence 1',
      opt: 'derived: largest of benchShapes (4×64)',
      max: 'derived: maxBatchSize 16 × 512 (tokenizer_config.json model_max_length)',
    });
    // Without an hf-model input the longest sequence falls back to 512; a given point always wins.
    const partial = await run({ shapes: { max: { batch: 8, sequence: 256 } } }, 'partial');
    expect(partial.result.metrics?.shapes).toEqual({
      input_ids: { min: [1, 1], opt: [8, 128], max: [8, 256] },
      attention_mask: { min: [1, 1], opt: [8, 128], max: [8, 256] },
    });
    // A derived opt above a given max is refused, and the message says where each point came from.
    const err = (await run({ shapes: { max: { batch: 4, sequence: 64 } } }, 'unordered').catch((e: unknown) => e)) as QrunError;
    expect(err.code).toBe('TRTEXEC_SHAPES');
    expect(err.message).toContain('opt derived: largest of benchShapes (8×128); max recipe');
  });

  it('exports times, profile and layer info as outputs', async () => {
    const fake = await installFakeTrtexec(join(root, 'bin'), { log: join(FIXTURES, 'trtexec-10-int8-build.log') });
    const { ctx, result } = await run({ trtexec: fake.path, shapes: SHAPES, exportTimes: true, exportProfile: true, exportLayerInfo: true }, 'exports');
    expect(result.metrics?.exported).toEqual(['times.json', 'profile.json', 'layers.json']);
    for (const f of ['times.json', 'profile.json', 'layers.json']) expect((await stat(join(ctx.outDir, f))).size).toBeGreaterThan(0);
    const outputs = plugin.outputs as Record<string, { path: string; optional?: boolean }>;
    expect([outputs.times, outputs.profile, outputs.layerInfo].map((o) => [o!.path, o!.optional])).toEqual([
      ['times.json', true],
      ['profile.json', true],
      ['layers.json', true],
    ]);
  });

  it('refuses to keep an engine built on another GPU than the one its cache key names', async () => {
    const fake = await installFakeTrtexec(join(root, 'bin'), { log: join(FIXTURES, 'trtexec-10-int8-build.log') });
    await withGpus([A100.replace(/^1,/, '0,')]); // nvidia-smi: device 0 is an A100; the log says H100
    const err = (await run({ trtexec: fake.path, shapes: SHAPES }, 'mismatch').catch((e: unknown) => e)) as QrunError;
    expect(err).toBeInstanceOf(QrunError);
    expect(err.code).toBe('TRTEXEC_DEVICE');
    expect(err.message).toContain('built the engine on NVIDIA H100 80GB HBM3 (sm 9.0), but the step\'s cache key names NVIDIA A100-SXM4-80GB (sm 8.0)');
    expect(err.diagnostics[0]!.hint).toContain('CUDA_DEVICE_ORDER=PCI_BUS_ID');
    // The same GPU in both: the build is kept.
    await withGpus([H100]);
    expect((await run({ trtexec: fake.path, shapes: SHAPES }, 'match')).result.metrics?.device).toEqual({ name: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0' });
  });

  it('names a configured path that is not executable in the skip', async () => {
    const { result } = await run({ trtexec: join(root, 'nowhere', 'trtexec') });
    expect(result.skipped?.reason).toBe(`trtexec not found: ${join(root, 'nowhere', 'trtexec')} (from the step option \`trtexec\`) is not an executable file`);
  });

  it('finds trtexec on PATH and through QRUN_TRTEXEC', async () => {
    const fake = await installFakeTrtexec(join(root, 'bin'), { log: join(FIXTURES, 'trtexec-10-int8-build.log') });
    vi.stubEnv('PATH', join(root, 'bin'));
    expect((await run({ shapes: SHAPES }, 'on-path')).result.metrics?.throughputQps).toBe(10801.9);
    vi.stubEnv('PATH', join(root, 'empty'));
    vi.stubEnv('QRUN_TRTEXEC', fake.path);
    expect((await run({ shapes: SHAPES }, 'from-env')).result.skipped).toBeUndefined();
    expect(await fake.calls()).toHaveLength(2);
  });

  describe('fingerprint (part of the cache key)', () => {
    const fingerprint = (o: Partial<TrtexecOptions> = {}) => plugin.fingerprint!(withDefaults(o));

    it('says trtexec is absent, or names the TensorRT version from --version and the GPU model and compute capability', async () => {
      expect(await fingerprint()).toEqual({ trtexec: 'absent' });
      const fake = await installFakeTrtexec(join(root, 'bin'), { log: join(FIXTURES, 'trtexec-10-int8-build.log') });
      await withGpus([H100]);
      expect(await fingerprint({ trtexec: fake.path })).toEqual({ tensorrt: '10.6.0', gpu: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0' });
      expect((await fake.calls()).map((c) => c.args)).toEqual([['--version']]);
    });

    it('falls back to the --help banner for a trtexec without --version', async () => {
      const fake = await installFakeTrtexec(join(root, 'bin'), { log: join(FIXTURES, 'trtexec-10-int8-build.log'), versionFlag: false });
      await withGpus([H100]);
      expect(await fingerprint({ trtexec: fake.path })).toMatchObject({ tensorrt: '10.6.0' });
      expect((await fake.calls()).map((c) => c.args)).toEqual([['--version'], ['--help']]);
    });

    it('never lets an engine be reused where no GPU can be identified (no nvidia-smi): a fresh nonce each time', async () => {
      const fake = await installFakeTrtexec(join(root, 'bin'), { log: join(FIXTURES, 'trtexec-10-int8-build.log') });
      const a = await fingerprint({ trtexec: fake.path });
      const b = await fingerprint({ trtexec: fake.path });
      expect(a).toMatchObject({ tensorrt: '10.6.0', gpu: expect.stringContaining('unidentified') });
      expect(a.nonce).toEqual(expect.any(String));
      expect(a.nonce).not.toBe(b.nonce);
    });

    it('keys on the device trtexec will use: --device and CUDA_VISIBLE_DEVICES', async () => {
      const fake = await installFakeTrtexec(join(root, 'bin'), { log: join(FIXTURES, 'trtexec-10-int8-build.log') });
      await withGpus([H100, A100]);
      vi.stubEnv('CUDA_DEVICE_ORDER', 'PCI_BUS_ID');
      expect(await fingerprint({ trtexec: fake.path, extraArgs: ['--device=1'] })).toMatchObject({ gpu: 'NVIDIA A100-SXM4-80GB', computeCapability: '8.0' });
      vi.stubEnv('CUDA_VISIBLE_DEVICES', '1');
      expect(await fingerprint({ trtexec: fake.path })).toMatchObject({ gpu: 'NVIDIA A100-SXM4-80GB' });
      // A UUID names the GPU whatever the device order.
      vi.stubEnv('CUDA_DEVICE_ORDER', '');
      vi.stubEnv('CUDA_VISIBLE_DEVICES', 'GPU-11111111');
      expect(await fingerprint({ trtexec: fake.path })).toMatchObject({ gpu: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0' });
    });

    it('keys on every GPU model of a mixed machine when CUDA may number the devices differently from nvidia-smi', async () => {
      const fake = await installFakeTrtexec(join(root, 'bin'), { log: join(FIXTURES, 'trtexec-10-int8-build.log') });
      await withGpus([H100, A100]);
      vi.stubEnv('CUDA_DEVICE_ORDER', '');
      expect(await fingerprint({ trtexec: fake.path })).toEqual({
        tensorrt: '10.6.0',
        gpus: ['NVIDIA A100-SXM4-80GB (sm 8.0)', 'NVIDIA H100 80GB HBM3 (sm 9.0)'],
        device: 0,
        CUDA_VISIBLE_DEVICES: null,
        CUDA_DEVICE_ORDER: '',
      });
    });

    it('still names the GPU with a driver too old to report compute_cap', async () => {
      const fake = await installFakeTrtexec(join(root, 'bin'), { log: join(FIXTURES, 'trtexec-10-int8-build.log') });
      await withGpus([H100], { computeCap: false });
      expect(await fingerprint({ trtexec: fake.path })).toEqual({ tensorrt: '10.6.0', gpu: 'NVIDIA H100 80GB HBM3', computeCapability: 'unknown' });
    });
  });
});
