// What the engine and the reports know about a step's metrics, from its plugin's declaration
// (Plugin.metrics): gates are checked against it before anything runs, a test checks that each
// built-in plugin returns only what it declares, and reports find the task's numbers by role.
import type { Diagnostic } from '../errors.ts';
import type { Gate, Recipe } from '../recipe/recipe.ts';
import { didYouMean } from '../recipe/suggest.ts';
import type { MetricRole, MetricsDeclaration, MetricSpec, NumberMetricSpec, Plugin } from './plugin.ts';

/** The plugin's declaration for these options; undefined when the plugin declares none (an older external plugin). */
export function metricsOf(plugin: Plugin, options: Record<string, unknown>): MetricsDeclaration | undefined {
  const m = (plugin as Plugin<Record<string, unknown>>).metrics;
  return typeof m === 'function' ? m(options) : m;
}

export function isNumberMetric(spec: MetricSpec): spec is NumberMetricSpec {
  return 'unit' in spec;
}

/** Where a metric path leads in a declaration. */
export type MetricLookup =
  /** A declared metric (or field). */
  | { found: 'declared'; spec: MetricSpec }
  /** Inside an object or table whose keys are data (an op histogram, samples per data set): not checked. */
  | { found: 'undeclared-keys'; spec: MetricSpec }
  /** No such metric: `at` is the part of the path that matched nothing, `candidates` the names there. */
  | { found: 'none'; at: number; candidates: string[] };

/**
 * Follows `path` (['sizes', 'int8'], ['latency', '0', 'ratio']) through the declaration. A table's
 * `fields` describe each row, so a row index is skipped; an object or table without `fields` has keys
 * that depend on the data, and anything below it is accepted here and read after the run.
 */
export function lookupMetric(decl: MetricsDeclaration, path: string[]): MetricLookup {
  let level: MetricsDeclaration = decl;
  for (let i = 0; i < path.length; i++) {
    const spec = level[path[i]!];
    if (!spec) return { found: 'none', at: i, candidates: Object.keys(level) };
    if (i === path.length - 1) return { found: 'declared', spec };
    if (isNumberMetric(spec) || spec.type === 'text' || spec.type === 'flag' || spec.type === 'list') return { found: 'none', at: i + 1, candidates: [] };
    if (!spec.fields) return { found: 'undeclared-keys', spec };
    if (spec.type === 'table') {
      // `latency.0.ratio`: the row index, then a field of the row.
      if (!/^\d+$/.test(path[i + 1]!)) return { found: 'none', at: i + 1, candidates: ['<row index>'] };
      i++;
      if (i === path.length - 1) return { found: 'undeclared-keys', spec };
    }
    level = spec.fields;
  }
  return { found: 'none', at: 0, candidates: Object.keys(decl) };
}

/** Every number a gate can name in a declaration, as dotted paths: agreement, sizes.int8, latency.<row>.ratio. */
export function numericMetricPaths(decl: MetricsDeclaration, prefix = ''): string[] {
  const out: string[] = [];
  for (const [name, spec] of Object.entries(decl)) {
    if (isNumberMetric(spec)) out.push(prefix + name);
    else if (spec.fields) out.push(...numericMetricPaths(spec.fields, `${prefix}${name}.${spec.type === 'table' ? '<row>.' : ''}`));
  }
  return out;
}

/**
 * Names in `metrics` that the declaration does not have (dotted paths, for nested objects whose
 * fields are declared). What a test holds each built-in plugin to: a metric the plugin returns but
 * does not declare cannot be gated before the run, and the reference does not list it.
 */
export function undeclaredMetrics(decl: MetricsDeclaration, metrics: Record<string, unknown>, prefix = ''): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(metrics)) {
    const spec = decl[name];
    if (!spec) {
      out.push(prefix + name);
      continue;
    }
    if (isNumberMetric(spec) || !spec.fields || value === null || typeof value !== 'object') continue;
    const rows = spec.type === 'table' && Array.isArray(value) ? value : [value];
    for (const row of rows) if (row && typeof row === 'object') out.push(...undeclaredMetrics(spec.fields, row as Record<string, unknown>, `${prefix}${name}.`));
  }
  return [...new Set(out)];
}

/** The declarations one level down `path` (row indices skipped), for hints. */
function levelAt(decl: MetricsDeclaration, path: string[]): MetricsDeclaration {
  let level = decl;
  for (const name of path) {
    const spec = level[name];
    if (spec && !isNumberMetric(spec) && spec.fields) level = spec.fields;
  }
  return level;
}

/** The names at one level a gate can follow: numbers, and objects or tables with declared fields ("sizes.…"). */
function gateableNames(level: MetricsDeclaration): string[] {
  return Object.entries(level).flatMap(([name, spec]) => (isNumberMetric(spec) ? [name] : spec.fields ? [`${name}.${spec.type === 'table' ? '<row>.' : ''}…`] : []));
}

/** The step and plugin a gate's first segment names, as the planner resolved them. */
export interface GateTarget {
  id: string;
  plugin: Plugin;
  options: Record<string, unknown>;
}

/**
 * Gates against the metrics their steps declare: an unknown metric (with the closest declared name),
 * a metric that is not a number, a percentage on a metric that is not a ratio. A gate on a step the
 * recipe lacks is load-recipe's error; one on a step whose plugin declares nothing, or whose metric
 * names are the user's (the command plugin's JSON), is accepted and read after the run.
 */
export function checkGates(recipe: Pick<Recipe, 'gates'>, steps: GateTarget[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const gate of recipe.gates) {
    const [stepId, ...path] = gate.metric.split('.');
    const step = steps.find((s) => s.id === stepId);
    if (!step) continue;
    const problem = gateProblem(gate, step, path);
    if (problem) out.push({ code: 'RECIPE_GATE', location: gate.location, ...problem });
  }
  return out;
}

function gateProblem(gate: Gate, step: GateTarget, path: string[]): { message: string; hint?: string } | undefined {
  const decl = metricsOf(step.plugin, step.options);
  const open = (step.plugin as Plugin<Record<string, unknown>>).openMetrics?.(step.options) ?? false;
  if (!decl) return undefined;
  const plugin = step.plugin.name;
  const numbers = numericMetricPaths(decl).map((p) => `${step.id}.${p}`);
  if (path.length === 0) {
    return { message: `gate "${gate.metric}" names step "${step.id}" but no metric of it`, hint: `a gate is step.metric; ${plugin}'s numbers: ${gateableNames(decl).join(', ')}` };
  }
  const found = lookupMetric(decl, path);
  if (found.found === 'none') {
    if (open) return undefined;
    const wrong = path.slice(0, found.at + 1).join('.');
    const near = didYouMean(path[found.at] ?? '', found.candidates);
    const guess = near ? `${step.id}.${[...path.slice(0, found.at), near].join('.')}` : didYouMean(gate.metric, numbers.map((n) => n.replace('<row>', '0')));
    const level = found.at === 0 ? `${plugin}'s numbers` : `numbers in ${step.id}.${path.slice(0, found.at).join('.')}`;
    return {
      message: `gate "${gate.metric}": ${plugin} has no metric "${wrong}"`,
      hint: `${guess ? `did you mean "${guess}"? ` : ''}${level}: ${gateableNames(levelAt(decl, path.slice(0, found.at))).join(', ') || 'none'}`,
    };
  }
  if (found.found === 'undeclared-keys') return undefined;
  const spec = found.spec;
  if (!isNumberMetric(spec)) {
    const inside = spec.fields ? numbers.filter((n) => n.startsWith(`${gate.metric}.`)) : [];
    return {
      message: `gate "${gate.metric}": ${path.join('.')} is ${spec.type === 'table' ? 'a table' : spec.type === 'object' ? 'an object' : spec.type === 'list' ? 'a list' : spec.type === 'flag' ? 'a flag' : 'text'}, not a number`,
      hint: inside.length ? `gate a number inside it: ${inside.join(', ')}` : `${plugin}'s numbers: ${gateableNames(decl).join(', ')}`,
    };
  }
  if (gate.percent && spec.unit !== 'ratio') {
    return { message: `gate "${gate.metric}": a percentage compares a ratio, and ${path.join('.')} is in ${spec.unit}`, hint: `write the number without %, in ${spec.unit}` };
  }
  return undefined;
}

/** A step of a report as the role lookup sees it. */
export interface StepWithMetrics {
  plugin: string;
  status: string;
  metrics: Record<string, unknown>;
}

/** Declarations by plugin name: the built-ins', and those of external plugins a run loaded. */
export type MetricCatalog = (plugin: string) => MetricsDeclaration | undefined;

/** The metric name a declaration gives `role`, if any. */
export function metricWithRole(decl: MetricsDeclaration | undefined, role: MetricRole): string | undefined {
  return decl ? Object.entries(decl).find(([, spec]) => spec.role === role)?.[0] : undefined;
}

/**
 * The first step (in recipe order) whose plugin declares `role`, and the name of that metric in
 * it; with `finished`, only a step that ran or was a cache hit. Reports read the task's numbers
 * through this instead of matching plugin names.
 */
export function stepWithRole<S extends StepWithMetrics>(steps: S[], catalog: MetricCatalog, role: MetricRole, options: { finished?: boolean } = {}): { step: S; metric: string } | undefined {
  for (const step of steps) {
    if (options.finished && step.status !== 'ran' && step.status !== 'hit') continue;
    const metric = metricWithRole(catalog(step.plugin), role);
    if (metric) return { step, metric };
  }
  return undefined;
}

/** The value of the metric with `role` in the first finished step that declares it. */
export function valueWithRole(steps: StepWithMetrics[], catalog: MetricCatalog, role: MetricRole): unknown {
  const hit = stepWithRole(steps, catalog, role, { finished: true });
  return hit ? hit.step.metrics[hit.metric] : undefined;
}

/** A step's metrics by the roles its plugin declares: { agreement: …, latency: … } (empty without a declaration). */
export function roleValuesOf(step: StepWithMetrics, catalog: MetricCatalog): Partial<Record<MetricRole, unknown>> {
  const out: Partial<Record<MetricRole, unknown>> = {};
  for (const [name, spec] of Object.entries(catalog(step.plugin) ?? {})) if (spec.role && name in step.metrics) out[spec.role] = step.metrics[name];
  return out;
}
