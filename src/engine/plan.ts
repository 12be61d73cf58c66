// Recipe → resolved steps: each step's plugin, its options with defaults applied and validated
// against the plugin's schema, and where each of its inputs comes from. Pure: nothing runs here.
import { Ajv, type ValidateFunction } from 'ajv';
import type { Diagnostic } from '../errors.ts';
import { ajvToDiagnostics } from '../recipe/ajv-diagnostics.ts';
import type { Recipe, StepSpec } from '../recipe/recipe.ts';
import { didYouMean } from '../recipe/suggest.ts';
import type { ArtifactKind, InputSpec, OutputSpec, Plugin } from './plugin.ts';
import type { PluginRegistry } from './registry.ts';
import { selectDeliverables } from './deliverables-select.ts';
import { checkGates, type GateTarget } from './metrics.ts';

export interface InputWiring {
  step: string;
  output: string;
  kind: ArtifactKind;
  /** The producing step may legitimately not write it (an optional output). */
  optional: boolean;
}

export interface ResolvedStep {
  spec: StepSpec;
  plugin: Plugin;
  options: Record<string, unknown>;
  inputSpecs: Record<string, InputSpec>;
  outputSpecs: Record<string, OutputSpec>;
  inputs: Record<string, InputWiring | undefined>;
  outputKinds: Record<string, ArtifactKind>;
}

const ajv = new Ajv({ allErrors: true, verbose: true, useDefaults: true, strict: false });
const validators = new WeakMap<Plugin, ValidateFunction>();

function validatorFor(plugin: Plugin): ValidateFunction {
  let v = validators.get(plugin);
  if (!v) {
    v = ajv.compile(plugin.optionsSchema);
    validators.set(plugin, v);
  }
  return v;
}

const kindsOf = (k: ArtifactKind | ArtifactKind[]): ArtifactKind[] => (Array.isArray(k) ? k : [k]);

/** An output an earlier step makes, as later steps' inputs are wired to it. */
interface Produced {
  step: string;
  output: string;
  kind: ArtifactKind;
  optional: boolean;
}

/** What planning has learnt so far, shared by the parts of planRecipe. */
interface Planning {
  recipe: Recipe;
  registry: PluginRegistry;
  errors: Diagnostic[];
  produced: Produced[];
  /**
   * Steps whose outputs are unknown (an unknown plugin with no near name): a later step that misses
   * an input, or names an output of theirs, may be missing it only because of that error, which is
   * reported once, at the step, not again at every step downstream.
   */
  opaque: Set<string>;
}

/**
 * Resolves every step, checks options, wires inputs and checks gates against the metrics the
 * plugins declare, reporting every problem at once: a step with an error still makes its outputs
 * known (an unknown plugin with a near name stands in for that plugin; a step with invalid options
 * for its own plugin), so later steps are not reported as missing what it would make.
 */
export function planRecipe(recipe: Recipe, registry: PluginRegistry): { steps: ResolvedStep[]; errors: Diagnostic[] } {
  const planning: Planning = { recipe, registry, errors: [], produced: [], opaque: new Set() };
  const steps: ResolvedStep[] = [];
  const gateTargets: GateTarget[] = [];
  for (const spec of recipe.steps) {
    const plugin = registry.get(spec.uses);
    if (!plugin) {
      standInForUnknownPlugin(planning, spec);
      continue;
    }
    const options = structuredClone(spec.options);
    // The recipe's `task:` reaches every step that declares a `task` option and sets none of its own
    // (hf.load, onnx.export: src/tasks/task.ts); as an option it is in the step's key.
    if (recipe.task && options.task === undefined && (plugin.optionsSchema as { properties?: Record<string, unknown> }).properties?.task) options.task = recipe.task.name;
    const validate = validatorFor(plugin);
    const valid = validate(options);
    if (!valid) planning.errors.push(...ajvToDiagnostics(validate.errors ?? [], recipe.locator, recipe.file, ['steps', spec.index, 'with'], 'RECIPE_OPTION'));
    const specs = specsOf(plugin, options);
    if (!specs) {
      planning.opaque.add(spec.id);
      continue;
    }
    const inputs = wireInputs(planning, spec, plugin, specs.inputSpecs);
    const outputKinds = addOutputs(planning, spec.id, specs.outputSpecs, inputs);
    gateTargets.push({ id: spec.id, plugin, options });
    if (valid) steps.push({ spec, plugin, options, ...specs, inputs, outputKinds });
  }
  planning.errors.push(...checkGates(recipe, gateTargets));
  // `outputs:` names step outputs: checked here, with the wiring, so `qrun validate` reports it.
  planning.errors.push(...selectDeliverables(recipe, steps).errors);
  return { steps, errors: planning.errors };
}

function standInForUnknownPlugin(planning: Planning, spec: StepSpec): void {
  const { recipe, registry } = planning;
  const guess = didYouMean(spec.uses, registry.names());
  planning.errors.push({
    code: 'RECIPE_UNKNOWN_PLUGIN',
    message: `step "${spec.id}" uses unknown plugin "${spec.uses}"; built-in plugins: ${registry.names().join(', ')}`,
    location: { file: recipe.file, ...recipe.locator.locate(['steps', spec.index, 'uses']) },
    hint: guess ? `did you mean "${guess}"?` : 'a plugin from a file is named by a path starting with ./',
  });
  // The plugin it most likely means makes its outputs known (with that plugin's defaults).
  const standIn = guess ? registry.get(guess) : undefined;
  const options: Record<string, unknown> = {};
  if (standIn) validatorFor(standIn)(options);
  const specs = standIn && specsOf(standIn, options);
  if (!specs) {
    planning.opaque.add(spec.id);
    return;
  }
  // Wired quietly: its input errors would be about a plugin the recipe does not name.
  const inputs = wireInputs({ ...planning, errors: [] }, spec, standIn!, specs.inputSpecs);
  addOutputs(planning, spec.id, specs.outputSpecs, inputs);
}

/** A plugin's input and output specs for these options; undefined when options it cannot read make them throw. */
function specsOf(plugin: Plugin, options: Record<string, unknown>): { inputSpecs: Record<string, InputSpec>; outputSpecs: Record<string, OutputSpec> } | undefined {
  try {
    return {
      inputSpecs: typeof plugin.inputs === 'function' ? plugin.inputs(options) : plugin.inputs,
      outputSpecs: typeof plugin.outputs === 'function' ? plugin.outputs(options) : plugin.outputs,
    };
  } catch {
    return undefined;
  }
}

function wireInputs(planning: Planning, spec: StepSpec, plugin: Plugin, inputSpecs: Record<string, InputSpec>): Record<string, InputWiring | undefined> {
  const { recipe, registry, errors, produced, opaque } = planning;
  const inputs: Record<string, InputWiring | undefined> = {};
  for (const name of Object.keys(spec.inputs)) {
    if (!(name in inputSpecs)) {
      const guess = didYouMean(name, Object.keys(inputSpecs));
      errors.push({
        code: 'RECIPE_UNKNOWN_INPUT',
        message: `step "${spec.id}" (${plugin.name}) has no input "${name}"; its inputs: ${Object.keys(inputSpecs).join(', ') || 'none'}`,
        location: { file: recipe.file, ...recipe.locator.locate(['steps', spec.index, 'inputs', name], { key: true }) },
        hint: guess ? `did you mean "${guess}"?` : undefined,
      });
    }
  }
  for (const [name, input] of Object.entries(inputSpecs)) {
    const accepted = kindsOf(input.kind);
    const ref = spec.inputs[name];
    if (ref) {
      const [stepId, output] = ref.split('.') as [string, string];
      const hit = produced.find((p) => p.step === stepId && p.output === output);
      const location = { file: recipe.file, ...recipe.locator.locate(['steps', spec.index, 'inputs', name]) };
      if (!hit) {
        if (opaque.has(stepId)) continue;
        const outputs = produced.filter((p) => p.step === stepId).map((p) => p.output);
        errors.push({
          code: 'RECIPE_BAD_REFERENCE',
          message: `step "${spec.id}" input "${name}" refers to "${ref}", which no earlier step produces`,
          location,
          hint: outputs.length
            ? `step "${stepId}" produces: ${outputs.join(', ')}`
            : (() => {
                const earlier = [...new Set(produced.map((p) => p.step))];
                const guess = didYouMean(stepId, earlier);
                return `${guess ? `did you mean "${guess}.${output}"? ` : ''}earlier steps: ${earlier.join(', ') || 'none'}`;
              })(),
        });
      } else if (!accepted.includes(hit.kind)) {
        errors.push({
          code: 'RECIPE_BAD_REFERENCE',
          message: `step "${spec.id}" input "${name}" needs ${accepted.join(' or ')}, but "${ref}" is ${hit.kind}`,
          location,
        });
      } else inputs[name] = hit;
      continue;
    }
    const latest = [...produced].reverse().find((p) => accepted.includes(p.kind));
    if (latest) inputs[name] = latest;
    else if (!input.optional && opaque.size === 0) {
      errors.push({
        code: 'RECIPE_MISSING_INPUT',
        message: `step "${spec.id}" (${plugin.name}) needs an input "${name}" of kind ${accepted.join(' or ')}, and no earlier step produces one`,
        location: spec.location,
        hint: `add a step that produces ${accepted.join(' or ')} before "${spec.id}"${producersOf(registry, accepted)}, or wire it with inputs: { ${name}: step.output }`,
      });
    }
  }
  return inputs;
}

function addOutputs(planning: Planning, stepId: string, outputSpecs: Record<string, OutputSpec>, inputs: Record<string, InputWiring | undefined>): Record<string, ArtifactKind> {
  const outputKinds: Record<string, ArtifactKind> = {};
  for (const [name, out] of Object.entries(outputSpecs)) {
    const kind = typeof out.kind === 'string' ? out.kind : inputs[out.kind.sameAs]?.kind ?? 'file';
    outputKinds[name] = kind;
    planning.produced.push({ step: stepId, output: name, kind, optional: out.optional ?? false });
  }
  return outputKinds;
}

/** " (e.g. qdq.insert)": the built-ins whose outputs have one of these kinds, for hints. */
function producersOf(registry: PluginRegistry, kinds: ArtifactKind[]): string {
  const names = registry.names().filter((n) => {
    const outputs = registry.get(n)!.outputs;
    return typeof outputs !== 'function' && Object.values(outputs).some((o) => typeof o.kind === 'string' && kinds.includes(o.kind));
  });
  return names.length ? ` (e.g. ${names.join(', ')})` : '';
}
