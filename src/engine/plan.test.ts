// planRecipe: plugins resolved, options validated with defaults, inputs wired (explicitly or to the
// latest earlier output of the accepted kind). Every error points at the recipe's line:col.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../errors.ts';
import { loadRecipe, parseRecipe } from '../recipe/load-recipe.ts';
import type { Recipe } from '../recipe/recipe.ts';
import { builtinRegistry } from './builtin-plugins.ts';
import { planRecipe, type ResolvedStep } from './plan.ts';
import type { Plugin } from './plugin.ts';
import { PluginRegistry } from './registry.ts';

const FILE = '/recipes/plan.yaml';

function recipeOf(lines: string[]): Recipe {
  const r = parseRecipe(lines.join('\n') + '\n', FILE);
  if (!r.ok) throw new Error(`test recipe does not parse: ${r.errors.map((e) => e.message).join('; ')}`);
  return r.value;
}

function plan(lines: string[], registry = builtinRegistry()) {
  return planRecipe(recipeOf(lines), registry);
}

function planOk(lines: string[]): ResolvedStep[] {
  const p = plan(lines);
  expect(p.errors).toEqual([]);
  return p.steps;
}

function stepOf(steps: ResolvedStep[], id: string): ResolvedStep {
  const s = steps.find((x) => x.spec.id === id);
  if (!s) throw new Error(`no resolved step ${id}; have ${steps.map((x) => x.spec.id).join(', ')}`);
  return s;
}

/** Where each input of a step is wired, as `step.output` (undefined when not wired). */
function wiring(step: ResolvedStep): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(step.inputs).map(([k, v]) => [k, v ? `${v.step}.${v.output}` : undefined]));
}

function only(errors: Diagnostic[], code: string): Diagnostic {
  const hits = errors.filter((e) => e.code === code);
  expect(hits, `diagnostics with code ${code} in ${JSON.stringify(errors)}`).toHaveLength(1);
  return hits[0]!;
}

const PIPELINE = [
  'name: x',
  'steps:',
  '  - id: load',
  '    uses: hf.load',
  '  - id: patch',
  '    uses: patch',
  '  - id: qdq',
  '    uses: qdq.insert',
  '  - id: calibrate',
  '    uses: calibrate',
  '  - id: save',
  '    uses: onnx.save',
  '  - id: bench',
  '    uses: bench',
];

describe('planRecipe: plugins', () => {
  it('an unknown plugin is reported at `uses` with the closest built-in as a suggestion', () => {
    const p = plan(['name: x', 'steps:', '  - uses: hf.load', '  - id: qdq', '    uses: qdq.insrt']);
    const e = only(p.errors, 'RECIPE_UNKNOWN_PLUGIN');
    expect(e.message).toContain('"qdq.insrt"');
    expect(e.message).toContain('qdq.insert');
    expect(e.hint).toBe('did you mean "qdq.insert"?');
    expect(e.location).toEqual({ file: FILE, line: 5, col: 11 });
    expect(p.steps.map((s) => s.spec.id)).toEqual(['hf-load']);
  });

  it('an unknown plugin with no near name hints at plugins from files instead', () => {
    const p = plan(['name: x', 'steps:', '  - uses: frobnicate-everything']);
    const e = only(p.errors, 'RECIPE_UNKNOWN_PLUGIN');
    expect(e.hint).toMatch(/path starting with \.\//);
    expect(e.location).toEqual({ file: FILE, line: 3, col: 11 });
  });
});

describe('planRecipe: options', () => {
  it('an unknown option (flow mapping) is located at the key with a did-you-mean', () => {
    const p = plan(['name: x', 'steps:', '  - uses: hf.load', '  - uses: qdq.insert', '  - uses: calibrate', '    with: { methd: minmax }']);
    const e = only(p.errors, 'RECIPE_OPTION');
    expect(e.message).toMatch(/^unknown key "methd" in steps\[2\]\.with; expected one of: method, percentile, /);
    expect(e.hint).toBe('did you mean "method"?');
    expect(e.location).toEqual({ file: FILE, line: 6, col: 13 });
  });

  it('an unknown option (block mapping) is located at its key line and column', () => {
    const p = plan(['name: x', 'steps:', '  - uses: hf.load', '  - uses: qdq.insert', '    with:', '      ops: [MatMul]', '      activatons: int8']);
    const e = only(p.errors, 'RECIPE_OPTION');
    expect(e.hint).toBe('did you mean "activations"?');
    expect(e.location).toEqual({ file: FILE, line: 7, col: 7 });
  });

  it('a misspelt enum value is located at the value and suggests the allowed one', () => {
    const p = plan(['name: x', 'steps:', '  - uses: hf.load', '  - uses: qdq.insert', '    with: { weights: per-chanel }']);
    const e = only(p.errors, 'RECIPE_OPTION');
    expect(e.message).toContain('steps[1].with.weights is "per-chanel"');
    expect(e.hint).toBe('did you mean "per-channel"?');
    expect(e.location).toEqual({ file: FILE, line: 5, col: 22 });
  });

  it('an option of the wrong type is located at the value', () => {
    const p = plan(['name: x', 'steps:', '  - uses: hf.load', '  - uses: qdq.insert', '  - uses: calibrate', '    with:', '      samples: lots']);
    const e = only(p.errors, 'RECIPE_OPTION');
    expect(e.message).toBe('steps[2].with.samples must be integer, got "lots"');
    expect(e.location).toEqual({ file: FILE, line: 7, col: 16 });
  });

  it('defaults fill every option the recipe leaves out, and the given ones are kept', () => {
    const steps = planOk(['name: x', 'steps:', '  - uses: hf.load', '  - uses: qdq.insert', '    with: { activations: uint8 }', '  - uses: calibrate', '    with: { method: minmax }']);
    expect(stepOf(steps, 'calibrate').options).toMatchObject({ method: 'minmax', percentile: 99.99, data: 'calibration', samples: 0, batchSize: 16 });
    expect(stepOf(steps, 'qdq-insert').options).toMatchObject({
      exclude: { ops: [], nodes: [] },
      activations: 'uint8',
      weights: 'per-channel',
      attentionMatMuls: true,
    });
    // qdq.insert 1.2: `ops` has no default — left out, the placement follows the model (a CNN's
    // Conv/Gemm/MatMul, a transformer's MatMul/Gemm), so the planner must not fill it in.
    expect(stepOf(steps, 'qdq-insert').options).not.toHaveProperty('ops');
  });

  it('applying defaults does not write into the recipe’s own step options', () => {
    const recipe = recipeOf(['name: x', 'steps:', '  - uses: hf.load', '  - uses: qdq.insert', '    with: { activations: uint8 }']);
    const p = planRecipe(recipe, builtinRegistry());
    expect(p.errors).toEqual([]);
    expect(recipe.steps[1]!.options).toEqual({ activations: 'uint8' });
    expect(p.steps[1]!.options).not.toBe(recipe.steps[1]!.options);
  });
});

describe('planRecipe: implicit wiring', () => {
  it('each input takes the latest earlier output of its kind', () => {
    const steps = planOk(PIPELINE);
    expect(wiring(stepOf(steps, 'load'))).toEqual({});
    expect(wiring(stepOf(steps, 'patch'))).toEqual({ model: 'load.model' });
    expect(wiring(stepOf(steps, 'qdq'))).toEqual({ model: 'patch.model' });
    // calibrate collects statistics on the patched FP32 model (the latest onnx-model), not on
    // hf.load's, and writes scales into qdq's model.
    expect(wiring(stepOf(steps, 'calibrate'))).toEqual({ model: 'qdq.model', float: 'patch.model', datasets: 'load.datasets' });
    expect(stepOf(steps, 'calibrate').inputs.float?.kind).toBe('onnx-model');
    expect(stepOf(steps, 'calibrate').inputs.model?.kind).toBe('qdq-model');
    expect(wiring(stepOf(steps, 'save'))).toEqual({ model: 'calibrate.model' });
    expect(wiring(stepOf(steps, 'bench'))).toEqual({ reference: 'patch.model', candidate: 'save.model', datasets: 'load.datasets', hf: 'load.hf' });
  });

  it('output kinds come from the plugin, or from the input for `sameAs` outputs (onnx.save)', () => {
    const steps = planOk(PIPELINE);
    expect(stepOf(steps, 'load').outputKinds).toEqual({ model: 'onnx-model', hf: 'hf-model', datasets: 'dataset' });
    expect(stepOf(steps, 'save').outputKinds).toEqual({ model: 'qdq-model' });
    // onnx.save of an FP32 model passes onnx-model on.
    const fp32 = planOk(['name: x', 'steps:', '  - uses: hf.load', '  - uses: onnx.save']);
    expect(stepOf(fp32, 'onnx-save').outputKinds).toEqual({ model: 'onnx-model' });
  });

  it('an explicit reference overrides the implicit choice', () => {
    const steps = planOk([...PIPELINE.slice(0, 10), '    inputs: { float: load.model }']);
    expect(wiring(stepOf(steps, 'calibrate'))).toEqual({ model: 'qdq.model', float: 'load.model', datasets: 'load.datasets' });
  });

  it('the shipped recipe plans without errors and wires calibrate and bench as documented', async () => {
    const r = await loadRecipe(fileURLToPath(new URL('../../recipes/bert-int8.yaml', import.meta.url)));
    if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
    const p = planRecipe(r.value, builtinRegistry());
    expect(p.errors).toEqual([]);
    expect(p.steps.map((s) => s.spec.id)).toEqual(['load', 'patch', 'qdq', 'calibrate', 'save', 'engine', 'triton', 'bench']);
    expect(wiring(stepOf(p.steps, 'calibrate'))).toEqual({ model: 'qdq.model', float: 'patch.model', datasets: 'load.datasets' });
    expect(wiring(stepOf(p.steps, 'triton'))).toEqual({ model: 'save.model', engine: 'engine.engine', hf: 'load.hf' });
    expect(stepOf(p.steps, 'triton').inputs.engine?.optional).toBe(true);
  });

  it('an optional input with no producer is left unwired without an error; a required one is an error', () => {
    const source: Plugin = {
      name: 'source',
      version: '1',
      description: 'test',
      optionsSchema: { type: 'object' },
      inputs: {},
      outputs: { data: { kind: 'dataset', path: 'd' } },
      run: async () => {},
    };
    const sink: Plugin = {
      name: 'sink',
      version: '1',
      description: 'test',
      optionsSchema: { type: 'object' },
      inputs: { data: { kind: 'dataset' }, extra: { kind: 'hf-model', optional: true } },
      outputs: {},
      run: async () => {},
    };
    const registry = new PluginRegistry().register(source).register(sink);
    const ok = plan(['name: x', 'steps:', '  - uses: source', '  - uses: sink'], registry);
    expect(ok.errors).toEqual([]);
    expect(wiring(ok.steps[1]!)).toEqual({ data: 'source.data' });
    const missing = plan(['name: x', 'steps:', '  - uses: sink'], registry);
    expect(only(missing.errors, 'RECIPE_MISSING_INPUT').message).toContain('"data"');
  });
});

describe('planRecipe: input errors', () => {
  it('a reference to a step that does not exist is located at the reference and lists earlier steps', () => {
    const p = plan(['name: x', 'steps:', '  - uses: hf.load', '  - uses: patch', '    inputs: { model: nope.model }']);
    const e = only(p.errors, 'RECIPE_BAD_REFERENCE');
    expect(e.message).toBe('step "patch" input "model" refers to "nope.model", which no earlier step produces');
    expect(e.hint).toBe('earlier steps: hf-load');
    expect(e.location).toEqual({ file: FILE, line: 5, col: 22 });
  });

  it('a reference to an output the step does not have lists that step’s outputs', () => {
    const p = plan(['name: x', 'steps:', '  - id: load', '    uses: hf.load', '  - uses: patch', '    inputs:', '      model: load.onnx']);
    const e = only(p.errors, 'RECIPE_BAD_REFERENCE');
    expect(e.hint).toBe('step "load" produces: model, hf, datasets');
    expect(e.location).toEqual({ file: FILE, line: 7, col: 14 });
  });

  it('a reference to a later step is refused: inputs only come from earlier steps', () => {
    const p = plan(['name: x', 'steps:', '  - uses: hf.load', '  - uses: patch', '    inputs: { model: qdq.model }', '  - id: qdq', '    uses: qdq.insert']);
    expect(only(p.errors, 'RECIPE_BAD_REFERENCE').message).toContain('"qdq.model"');
  });

  it('a reference of the wrong kind names both kinds', () => {
    const p = plan(['name: x', 'steps:', '  - id: load', '    uses: hf.load', '  - uses: qdq.insert', '  - uses: calibrate', '    inputs: { model: load.model }']);
    const e = only(p.errors, 'RECIPE_BAD_REFERENCE');
    expect(e.message).toBe('step "calibrate" input "model" needs qdq-model, but "load.model" is onnx-model');
    expect(e.location).toEqual({ file: FILE, line: 7, col: 22 });
  });

  it('an input name the plugin does not have is located at the key, with a suggestion', () => {
    const p = plan(['name: x', 'steps:', '  - id: load', '    uses: hf.load', '  - uses: patch', '    inputs: { modle: load.model }']);
    const e = only(p.errors, 'RECIPE_UNKNOWN_INPUT');
    expect(e.message).toContain('no input "modle"; its inputs: model');
    expect(e.hint).toBe('did you mean "model"?');
    expect(e.location).toEqual({ file: FILE, line: 6, col: 15 });
  });

  it('calibrate without a qdq step: RECIPE_MISSING_INPUT for its model, at the step', () => {
    const p = plan(['name: x', 'steps:', '  - uses: hf.load', '  - uses: calibrate']);
    const e = only(p.errors, 'RECIPE_MISSING_INPUT');
    expect(e.message).toBe('step "calibrate" (calibrate) needs an input "model" of kind qdq-model, and no earlier step produces one');
    expect(e.location).toEqual({ file: FILE, line: 4, col: 5 });
    // The inputs that can be wired still are.
    expect(wiring(p.steps[1]!)).toEqual({ float: 'hf-load.model', datasets: 'hf-load.datasets' });
  });

  // BUG (src/engine/plan.ts, RECIPE_MISSING_INPUT hint): the hint always says "(e.g. hf.load)",
  // whatever kind is missing. For calibrate's qdq-model it reads "add a step that produces qdq-model
  // before "calibrate" (e.g. hf.load)", but hf.load produces no qdq-model; the step to add is
  // qdq.insert. The hint should name a registered plugin whose outputs include the missing kind.
  it('the missing-input hint names a plugin that produces the missing kind', () => {
    const p = plan(['name: x', 'steps:', '  - uses: hf.load', '  - uses: calibrate']);
    const e = only(p.errors, 'RECIPE_MISSING_INPUT');
    expect(e.hint).toContain('qdq.insert');
    expect(e.hint).not.toContain('hf.load');
  });
});

describe('PluginRegistry', () => {
  it('lists the built-ins and refuses to register a name twice', () => {
    const registry = builtinRegistry();
    expect(registry.names()).toEqual(expect.arrayContaining(['hf.load', 'patch', 'qdq.insert', 'calibrate', 'onnx.save', 'bench']));
    expect(() => registry.register(registry.get('patch')!)).toThrow(/registered twice/);
  });
});

describe('planRecipe: every problem once (issue 12 §6)', () => {
  it('a qdq.insert with a bad option is reported at the option, and calibrate is not also told to "add qdq.insert"', () => {
    const p = plan(PIPELINE.map((l) => (l === '    uses: qdq.insert' ? '    uses: qdq.insert\n    with: { activatons: int8 }' : l)));
    expect(p.errors.map((e) => e.code)).toEqual(['RECIPE_OPTION']);
    expect(p.errors[0]!.hint).toBe('did you mean "activations"?');
  });

  it('a misspelt plugin stands in for the one it most likely means: later steps are wired as they will be', () => {
    const p = plan(PIPELINE.map((l) => (l === '    uses: qdq.insert' ? '    uses: qdq.insret' : l)));
    expect(p.errors.map((e) => e.code)).toEqual(['RECIPE_UNKNOWN_PLUGIN']);
  });

  it('an unknown plugin with no near name may make anything: the inputs missing downstream are not reported as well, other problems are', () => {
    const p = plan(['name: x', 'steps:', '  - uses: hf.load', '  - id: mystery', '    uses: frobnicate-everything', '  - uses: calibrate', '  - uses: bench', '    with: { iteratons: 3 }']);
    expect(p.errors.map((e) => e.code)).toEqual(['RECIPE_UNKNOWN_PLUGIN', 'RECIPE_OPTION']);
  });

  it('option, wiring and gate problems of one recipe come in one answer', () => {
    const p = plan([...PIPELINE.map((l) => (l === '    uses: calibrate' ? '    uses: calibrate\n    with: { method: entropyy }' : l)), '    inputs: { reference: nowhere.model }', 'gates:', '  bench.agreemnt: ">= 0.99"']);
    expect(p.errors.map((e) => e.code).sort()).toEqual(['RECIPE_BAD_REFERENCE', 'RECIPE_GATE', 'RECIPE_OPTION']);
  });
});

describe('planRecipe: gates against the declared metrics (issue 12 §2)', () => {
  const withGates = (...gates: string[]) => plan([...PIPELINE, 'gates:', ...gates.map((g) => `  ${g}`)]);

  it('a misspelt metric names the gate at file:line:col and the declared metric it most likely means', () => {
    const p = withGates('bench.agreement: ">= 0.99"', 'bench.agreemnt: ">= 0.99"');
    const e = only(p.errors, 'RECIPE_GATE');
    expect(e.message).toBe('gate "bench.agreemnt": bench has no metric "agreemnt"');
    expect(e.hint).toBe(
      'did you mean "bench.agreement"? bench\'s numbers: agreement, fp32Accuracy, int8Accuracy, accuracyDrop, maxAbsError, meanCosine, minCosine, embedding.…, questionAnswering.…, tokenClassification.…, textGeneration.…, sizeRatio, sizes.…, latency.<row>.…, speedup, speedupInterval.…',
    );
    expect(e.location).toEqual({ file: FILE, line: 17, col: 3 });
  });

  it('a number inside an object metric is gated by its path; the object itself is not a number', () => {
    expect(withGates('bench.sizes.int8: "< 5000000"', 'bench.speedupInterval.low: "> 1"', 'calibrate.meanClippedRange: "< 0.01"').errors).toEqual([]);
    const e = only(withGates('bench.sizes: "< 5000000"').errors, 'RECIPE_GATE');
    expect(e.message).toBe('gate "bench.sizes": sizes is an object, not a number');
    expect(e.hint).toBe('gate a number inside it: bench.sizes.fp32, bench.sizes.int8');
    expect(only(withGates('bench.latency: "> 1"').errors, 'RECIPE_GATE').message).toBe('gate "bench.latency": latency is a table, not a number');
    expect(only(withGates('bench.sizes.int9: "> 1"').errors, 'RECIPE_GATE').hint).toMatch(/^did you mean "bench\.sizes\.int8"\?/);
  });

  it('a row of a table is gated by its index and a declared field', () => {
    expect(withGates('bench.latency.0.speedup: ">= 1"', 'bench.latency.2.int8.p99: "< 40"').errors).toEqual([]);
    expect(only(withGates('bench.latency.0.speedp: ">= 1"').errors, 'RECIPE_GATE').hint).toMatch(/^did you mean "bench\.latency\.0\.speedup"\?/);
  });

  it('a percentage is taken for a ratio and refused for a metric in another unit', () => {
    expect(withGates('bench.agreement: ">= 99.5%"').errors).toEqual([]);
    const e = only(withGates('bench.speedup: ">= 150%"').errors, 'RECIPE_GATE');
    expect(e.message).toBe('gate "bench.speedup": a percentage compares a ratio, and speedup is in ×');
  });

  it('keys that depend on the data (an op histogram) are accepted; a command step with its own JSON metrics accepts any name', () => {
    expect(withGates('save.ops.MatMul: ">= 1"').errors).toEqual([]);
    const p = plan([
      'name: x',
      'steps:',
      '  - id: score',
      '    uses: command',
      '    with: { run: [python, score.py], outputs: { scores: { path: s.json, kind: file } }, metrics: scores }',
      '  - id: plain',
      '    uses: command',
      '    with: { run: [echo, hi] }',
      'gates:',
      '  score.f1: ">= 0.9"',
      '  plain.f1: ">= 0.9"',
    ]);
    expect(p.errors.map((e) => e.message)).toEqual(['gate "plain.f1": command has no metric "f1"']);
  });
});
