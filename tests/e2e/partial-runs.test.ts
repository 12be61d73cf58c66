// Plans and partial runs that match what runs (issue 12 §6), through the real CLI: --only a step
// that does not use what a skipped optional step would have made, plan honouring --from/--until/
// --only and naming the step it cannot find, plan predicting a skip where a tool is absent, validate
// listing every problem of a recipe at once, --baseline checked before anything runs. And (§2) every
// metric a real run's steps report is one their plugins declare.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_METRICS } from '../../src/engine/builtin-metrics.ts';
import { undeclaredMetrics } from '../../src/engine/metrics.ts';
import { qrun, REPO, tempDir, type QrunResult } from '../helpers/cli.ts';
import { latestReport, step } from '../helpers/report.ts';

// The shipped main job, made quick: the same steps (trtexec optional, skipped where it is absent),
// a short bench. PATH is the test's own, which has no trtexec: `which trtexec` is checked below.
function langidRecipe(dir: string, opts: { file?: string; tritonBatch?: number } = {}): string {
  const file = join(dir, opts.file ?? 'langid.yaml');
  writeFileSync(
    file,
    `name: langid-partial
model: ${join(REPO, 'models/bert-langid')}
data:
  calibration: ${join(REPO, 'data/langid/calib.jsonl')}
  evaluation: ${join(REPO, 'data/langid/eval.jsonl')}
out: ${join(dir, 'out')}
steps:
  - id: load
    uses: hf.load
  - id: patch
    uses: patch
  - id: qdq
    uses: qdq.insert
  - id: calibrate
    uses: calibrate
    with: { method: percentile, samples: 64 }
  - id: save
    uses: onnx.save
  - id: engine
    uses: trtexec
    optional: true
  - id: triton
    uses: triton
    with: { maxBatchSize: ${opts.tritonBatch ?? 32} }
  - id: bench
    uses: bench
    with: { shapes: [{ batch: 1, sequence: 16 }], warmup: 1, iterations: 4, blocks: 2, samples: 128 }
gates:
  bench.agreement: ">= 0.95"
`,
  );
  return file;
}

/** The rows of `qrun plan`'s table: step → [plan, why]. */
function planRows(stdout: string): Map<string, [string, string]> {
  const rows = new Map<string, [string, string]>();
  for (const line of stdout.split('\n')) {
    const m = /^(\S+)\s+(\S+)\s+(run|cache hit|skip|fail|not run)\s+(\S+)\s*(.*)$/.exec(line);
    if (m) rows.set(m[1]!, [m[3]!, m[5]!]);
  }
  return rows;
}

const runFolders = (cache: string) => (existsSync(join(cache, 'runs')) ? readdirSync(join(cache, 'runs')) : []);

describe('after a full run of the main job where trtexec is absent', () => {
  const dir = tempDir();
  const cache = join(dir, 'cache');
  const recipe = langidRecipe(dir);
  let full: QrunResult;

  beforeAll(async () => {
    expect((await qrun(['plan', recipe, '--cache', cache])).exitCode).toBe(0);
    full = await qrun([recipe, '--cache', cache]);
  });

  it('the full run passes with the engine step skipped', () => {
    expect(full.stderr).toBe('');
    expect(full.exitCode).toBe(0);
    expect(step(latestReport(cache).report, 'engine').status).toBe('skipped');
  });

  it('every metric each step reported is declared by its plugin (issue 12 §2)', () => {
    const { report } = latestReport(cache);
    for (const s of report.steps) {
      expect(undeclaredMetrics(BUILTIN_METRICS[s.plugin]!, s.metrics), `${s.id} (${s.plugin})`).toEqual([]);
    }
  });

  it('--only bench runs bench on the cached steps it uses, without requiring the engine trtexec could not build (was: "engine not in the cache")', async () => {
    const r = await qrun([recipe, '--cache', cache, '--only', 'bench', '--force', 'bench']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const { report } = latestReport(cache);
    expect(report.steps.map((s) => [s.id, s.status])).toEqual([
      ['load', 'hit'],
      ['patch', 'hit'],
      ['qdq', 'hit'],
      ['calibrate', 'hit'],
      ['save', 'hit'],
      ['engine', 'skipped'],
      ['triton', 'hit'],
      ['bench', 'ran'],
    ]);
    expect(report.gates).toEqual([expect.objectContaining({ metric: 'bench.agreement', pass: true })]);
  });

  it('--only bench leaves out an earlier step it does not use and the cache does not hold, instead of failing "not in the cache"', async () => {
    // The same recipe with another triton option: its triton step is not in the cache.
    const other = langidRecipe(dir, { file: 'langid-triton16.yaml', tritonBatch: 16 });
    const r = await qrun([other, '--cache', cache, '--only', 'bench']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const { report } = latestReport(cache);
    expect(report.steps.map((s) => [s.id, s.status])).toEqual([
      ['load', 'hit'],
      ['patch', 'hit'],
      ['qdq', 'hit'],
      ['calibrate', 'hit'],
      ['save', 'hit'],
      ['engine', 'skipped'],
      ['triton', 'not-run'],
      ['bench', 'hit'],
    ]);
    expect(step(report, 'triton').cacheNote).toBe('not in the cache, and --only does not need it');
    expect(report.gates).toEqual([expect.objectContaining({ metric: 'bench.agreement', pass: true })]);
  });

  it('plan --only bench says what that run does: hits, the engine skipped because trtexec is absent, bench from the cache', async () => {
    const r = await qrun(['plan', recipe, '--cache', cache, '--only', 'bench']);
    expect(r.exitCode).toBe(0);
    const rows = planRows(r.stdout);
    expect([...rows].map(([id, [plan]]) => [id, plan])).toEqual([
      ['load', 'cache hit'],
      ['patch', 'cache hit'],
      ['qdq', 'cache hit'],
      ['calibrate', 'cache hit'],
      ['save', 'cache hit'],
      ['engine', 'skip'],
      ['triton', 'cache hit'],
      ['bench', 'cache hit'],
    ]);
    expect(rows.get('engine')![1]).toBe('trtexec not found on PATH');
  });

  it('plan --until, --from and --only select the steps run selects', async () => {
    const until = planRows((await qrun(['plan', recipe, '--cache', cache, '--until', 'qdq'])).stdout);
    expect([...until].map(([id, [plan, why]]) => `${id}: ${plan}${plan === 'not run' ? ` (${why})` : ''}`)).toEqual([
      'load: cache hit',
      'patch: cache hit',
      'qdq: cache hit',
      'calibrate: not run (--until qdq)',
      'save: not run (--until qdq)',
      'engine: not run (--until qdq)',
      'triton: not run (--until qdq)',
      'bench: not run (--until qdq)',
    ]);
    const from = planRows((await qrun(['plan', recipe, '--cache', cache, '--from', 'save'])).stdout);
    expect([...from].map(([id, [plan]]) => `${id}: ${plan}`)).toEqual(['load: cache hit', 'patch: cache hit', 'qdq: cache hit', 'calibrate: cache hit', 'save: run', 'engine: skip', 'triton: run', 'bench: run']);
    expect(from.get('save')![1]).toBe('--force');
    const dry = await qrun([recipe, '--cache', cache, '--dry-run', '--only', 'calibrate', '--force', 'calibrate']);
    expect([...planRows(dry.stdout)].map(([id, [plan]]) => `${id}: ${plan}`)).toEqual([
      'load: cache hit',
      'patch: cache hit',
      'qdq: cache hit',
      'calibrate: run',
      'save: not run',
      'engine: not run',
      'triton: not run',
      'bench: not run',
    ]);
  });

  it('plan and run refuse an unknown step name the same way, with the closest step (was: plan printed the whole plan)', async () => {
    for (const args of [['plan', recipe], [recipe, '--dry-run'], [recipe]]) {
      const r = await qrun([...args, '--cache', cache, '--only', 'bnech']);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('error USAGE: --only bnech: the recipe has no step "bnech"\n  hint: did you mean "bench"? steps: load, patch, qdq, calibrate, save, engine, triton, bench');
    }
  });
});

describe('checked before anything runs', () => {
  it('plan on a fresh cache predicts the skip of the optional engine step instead of a run (trtexec is not on this PATH)', async () => {
    const dir = tempDir();
    expect((await qrun(['plan', langidRecipe(dir), '--cache', join(dir, 'c')])).stdout).toMatch(/^engine\s+trtexec\s+skip\s+—\s+trtexec not found on PATH$/m);
    expect(runFolders(join(dir, 'c'))).toEqual([]);
  });

  it('--baseline with a missing file exits 2 before any step runs or any run folder is made', async () => {
    const dir = tempDir();
    const cache = join(dir, 'c');
    const missing = join(dir, 'missing.json');
    const r = await qrun([langidRecipe(dir), '--cache', cache, '--baseline', missing]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe(`error FILE_NOT_FOUND: baseline report not found: ${missing}\n  hint: pass the report.json of an earlier run: .qrun/runs/<id>/report.json`);
    expect(runFolders(cache)).toEqual([]);
    expect(existsSync(join(cache, 'cache'))).toBe(false);
  });

  it('validate lists every problem of a recipe in one answer, each once: no "add qdq.insert" for a qdq.insert that is there with a bad option', async () => {
    const dir = tempDir();
    const file = join(dir, 'several.yaml');
    writeFileSync(
      file,
      [
        'name: several-problems',
        `model: ${join(REPO, 'models/bert-langid')}`,
        'colour: blue',
        'steps:',
        '  - id: load',
        '    uses: hf.load',
        '  - id: qdq',
        '    uses: qdq.insert',
        '    with:',
        '      activatons: int8',
        '  - id: calibrate',
        '    uses: calibrate',
        '    with: { method: entropyy }',
        '  - id: save',
        '    uses: onnx.sav',
        '  - id: bench',
        '    uses: bench',
        'gates:',
        '  bench.agreemnt: ">= 0.99"',
        '  bench.accuracyDrop: "<= 0..01"',
        '',
      ].join('\n'),
    );
    const r = await qrun(['validate', file]);
    expect(r.exitCode).toBe(2);
    const problems = r.stderr.split('\n').filter((l) => l.startsWith(file));
    expect(problems.map((l) => l.slice(file.length))).toEqual([
      ':3:1: error RECIPE_SCHEMA: unknown key "colour" in the recipe; expected one of: version, name, description, model, data, steps, gates, task, outputs, out, remoteCache, matrix',
      ':20:23: error RECIPE_GATE: gates.bench.accuracyDrop: "<= 0..01" is not a condition: "0..01" is not a number',
      ':10:7: error RECIPE_OPTION: unknown key "activatons" in steps[1].with; expected one of: ops, exclude, activations, weights, attentionMatMuls, residualAdd, concat, mode, target',
      ':13:21: error RECIPE_OPTION: steps[2].with.method is "entropyy"; expected one of: "minmax", "percentile", "entropy", "mse", "auto"',
      expect.stringMatching(/^:15:11: error RECIPE_UNKNOWN_PLUGIN: step "save" uses unknown plugin "onnx\.sav"; /),
      ':19:3: error RECIPE_GATE: gate "bench.agreemnt": bench has no metric "agreemnt"',
    ]);
    expect(r.stderr).toContain('hint: did you mean "bench.agreement"?');
    expect(r.stderr).not.toContain('RECIPE_MISSING_INPUT');
    expect(readFileSync(file, 'utf8')).toContain('colour');
  });
});
