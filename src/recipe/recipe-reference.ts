// docs/recipe-reference.md, written from what the code declares: the recipe's structure
// (schemas/recipe.schema.json), every built-in plugin's options schema (type, default, examples,
// description) and metric declarations (unit, better direction, description), and the exit codes.
// `npm run schema` writes it beside the JSON schema; tests/recipe-reference.test.ts fails when the
// file is out of date, and when an option lacks a description or an example.
import { stringify } from 'yaml';
import { BUILTIN_PLUGINS } from '../engine/builtin-plugins.ts';
import type { Plugin } from '../engine/plugin.ts';
import { EXIT_CODES } from '../errors.ts';
import { defaultStepId } from './load-recipe.ts';

type Json = Record<string, unknown>;

export interface OptionRow {
  /** Dotted path inside `with:` (`exclude.nodes`, `shapes[].batch`, `outputs.<name>.path`). */
  path: string;
  type: string;
  /** The default as YAML, `required`, or `—` (unset: the description says what happens then). */
  default: string;
  /** `key: value` as it is written under `with:`; empty when neither the schema nor its parent gives one. */
  example: string;
  description: string;
}

export interface MetricRow {
  /** The name after the step id in a gate (`agreement`, `sizes.int8`). */
  path: string;
  /** The unit of a number; for anything else its kind (text, list, table, …), which gates cannot compare. */
  unit: string;
  better: string;
  gate: boolean;
  optional: boolean;
  description: string;
}

export interface StepReference {
  plugin: string;
  stepId: string;
  description: string;
  inputs: string;
  outputs: string;
  options: OptionRow[];
  /** Undefined when the plugin declares none. */
  metrics?: MetricRow[];
  /** The plugin also reports metrics the recipe names (the command plugin's `metrics:` output). */
  openMetrics: boolean;
}

/** The metric declaration as the plugin contract has it (src/engine/plugin.ts MetricSpec), read structurally. */
interface DeclaredMetric {
  description: string;
  unit?: string;
  better?: string;
  type?: string;
  optional?: boolean;
  fields?: Record<string, DeclaredMetric>;
}

const yamlValue = (v: unknown) => stringify(v, { collectionStyle: 'flow', lineWidth: 0, flowCollectionPadding: false }).trim();

function typeOf(s: Json): string {
  if (Array.isArray(s.anyOf)) return (s.anyOf as Json[]).map(typeOf).join(' or ');
  if ('const' in s) return `\`${yamlValue(s.const)}\``;
  if (Array.isArray(s.enum)) return (s.enum as unknown[]).map((e) => `\`${yamlValue(e)}\``).join(', ');
  if (Array.isArray(s.type)) return (s.type as string[]).join(' or ');
  const t = s.type as string | undefined;
  if (t === 'array') {
    const items = (s.items ?? {}) as Json;
    if (Array.isArray(items.enum) || Array.isArray(items.anyOf) || Array.isArray(items.type)) return `list of (${typeOf(items)})`;
    if (items.type === 'object') return 'list of objects';
    return items.type ? `list of ${items.type}s` : 'list';
  }
  if (t === 'object') {
    const extra = s.additionalProperties;
    if (extra && typeof extra === 'object' && !s.properties) {
      const value = extra as Json;
      return `map of name → ${value.properties ? 'object' : typeOf(value)}`;
    }
    return 'object';
  }
  if (t === 'integer' || t === 'number') return `${t}${range(s)}`;
  return t ?? 'any';
}

/** ` 1–1024`, ` ≥ 0`, ` > 0`, ` (50, 100]` from the schema's bounds. */
function range(s: Json): string {
  const lo = s.minimum as number | undefined;
  const xlo = s.exclusiveMinimum as number | undefined;
  const hi = s.maximum as number | undefined;
  if (lo !== undefined && hi !== undefined) return ` ${lo}–${hi}`;
  if (xlo !== undefined && hi !== undefined) return ` (${xlo}, ${hi}]`;
  if (lo !== undefined) return ` ≥ ${lo}`;
  if (xlo !== undefined) return ` > ${xlo}`;
  if (hi !== undefined) return ` ≤ ${hi}`;
  return '';
}

/** The value of `key` inside a parent's example or default (an object, or the first item of a list of them). */
function within(parent: unknown, key: string): unknown {
  const holder = Array.isArray(parent) ? parent[0] : parent;
  return holder && typeof holder === 'object' ? (holder as Json)[key] : undefined;
}

function optionRows(schema: Json, prefix = '', parent?: { example?: unknown; default?: unknown; list?: boolean }): OptionRow[] {
  const props = schema.properties as Record<string, Json> | undefined;
  if (!props) return [];
  const required = new Set((schema.required as string[] | undefined) ?? []);
  const rows: OptionRow[] = [];
  for (const [key, s] of Object.entries(props)) {
    const path = prefix + key;
    const own = Array.isArray(s.examples) && s.examples.length ? { value: s.examples[0] } : undefined;
    const fromParent = parent ? within(parent.example, key) ?? within(parent.default, key) : undefined;
    // A field of a list's items has no default of its own: the list's default is one example of them.
    const dflt = 'default' in s ? s.default : parent && !parent.list ? within(parent.default, key) : undefined;
    // An example: the schema's own, else what the parent's example shows for this key, else a
    // default that says something (not an empty list or object, which shows nothing to copy).
    const informative = (v: unknown) => v !== undefined && !(Array.isArray(v) && !v.length) && !(v && typeof v === 'object' && !Object.keys(v).length);
    const example = own?.value ?? (informative(fromParent) ? fromParent : informative(dflt) ? dflt : undefined);
    rows.push({
      path,
      type: typeOf(s),
      default: dflt !== undefined ? `\`${yamlValue(dflt)}\`` : required.has(key) ? 'required' : '—',
      example: example === undefined ? '' : `\`${yamlValue({ [key]: example }).replace(/^\{|\}$/g, '')}\``,
      description: (s.description as string | undefined) ?? '',
    });
    const context = { example, default: dflt };
    rows.push(...optionRows(s, `${path}.`, context));
    const items = s.items as Json | undefined;
    if (items?.properties) rows.push(...optionRows(items, `${path}[].`, { ...context, list: true }));
    for (const branch of (s.anyOf as Json[] | undefined) ?? []) if (branch.properties) rows.push(...optionRows(branch, `${path}.`, context));
    const extra = s.additionalProperties;
    if (extra && typeof extra === 'object' && (extra as Json).properties) {
      rows.push(...optionRows(extra as Json, `${path}.<name>.`, { example: Object.values((example ?? {}) as Json)[0], default: undefined }));
    }
  }
  return rows;
}

function metricRows(declared: Record<string, DeclaredMetric>, prefix = ''): MetricRow[] {
  return Object.entries(declared).flatMap(([name, m]) => {
    const path = prefix + name;
    const row: MetricRow = {
      path,
      unit: m.unit ?? m.type ?? '',
      better: m.unit ? (m.better ?? 'none') : '',
      gate: m.unit !== undefined,
      optional: m.optional ?? false,
      description: m.description,
    };
    // A table's fields are per row, named in a gate by the row's index (bench.latency.0.speedup).
    return [row, ...(m.fields ? metricRows(m.fields, m.type === 'table' ? `${path}.<i>.` : `${path}.`) : [])];
  });
}

/** The plugin's options with every default filled in, for declarations that depend on them. */
function defaults(schema: Json): Json {
  const props = (schema.properties ?? {}) as Record<string, Json>;
  return Object.fromEntries(Object.entries(props).flatMap(([k, s]) => ('default' in s ? [[k, structuredClone(s.default)]] : [])));
}

function specsOf(plugin: Plugin, which: 'inputs' | 'outputs'): string {
  const specs = plugin[which];
  if (typeof specs === 'function') return which === 'inputs' ? 'declared by its options' : 'declared by its options';
  const entries = Object.entries(specs);
  if (!entries.length) return 'none';
  return entries
    .map(([name, s]) => {
      const kind = typeof s.kind === 'string' ? s.kind : Array.isArray(s.kind) ? s.kind.join(' or ') : `same kind as ${s.kind.sameAs}`;
      return `\`${name}\` (${kind}${s.optional ? ', optional' : ''})`;
    })
    .join(', ');
}

export function stepReferences(plugins: Plugin[] = BUILTIN_PLUGINS): StepReference[] {
  return plugins.map((p) => {
    const declared = (p as { metrics?: Record<string, DeclaredMetric> | ((o: Json) => Record<string, DeclaredMetric>) }).metrics;
    const metrics = typeof declared === 'function' ? declared(defaults(p.optionsSchema)) : declared;
    const open = (p as { openMetrics?: (o: Json) => boolean }).openMetrics;
    return {
      plugin: p.name,
      stepId: defaultStepId(p.name),
      description: p.description,
      inputs: specsOf(p, 'inputs'),
      outputs: specsOf(p, 'outputs'),
      options: optionRows(p.optionsSchema),
      ...(metrics ? { metrics: metricRows(metrics) } : {}),
      openMetrics: open !== undefined,
    };
  });
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
const sentence = (s: string) => (s && !/[.!?]$/.test(s) ? `${s}.` : s);
const anchor = (name: string) => name.replace(/[^a-z0-9]+/gi, '').toLowerCase();

function recipeKeys(schema: Json): string {
  const required = new Set((schema.required as string[] | undefined) ?? []);
  const props = schema.properties as Record<string, Json>;
  return table(
    ['key', 'type', '', 'what it is'],
    Object.entries(props).map(([k, s]) => [`\`${k}\``, typeOf(s), required.has(k) ? 'required' : '', sentence((s.description as string | undefined) ?? '')]),
  );
}

function stepKeys(schema: Json): string {
  const items = (schema.properties as { steps: { items: Json } }).steps.items;
  const required = new Set((items.required as string[] | undefined) ?? []);
  const props = items.properties as Record<string, Json>;
  return table(
    ['key', 'type', '', 'what it is'],
    Object.entries(props).map(([k, s]) => [`\`${k}\``, k === 'uses' ? 'string' : typeOf(s), required.has(k) ? 'required' : '', sentence((s.description as string | undefined) ?? '')]),
  );
}

function stepSection(r: StepReference): string {
  const lines = [`### \`${r.plugin}\``, '', sentence(r.description), '', `Default step id: \`${r.stepId}\` · takes: ${r.inputs} · makes: ${r.outputs}`, ''];
  lines.push(
    r.options.length
      ? table(['option', 'type', 'default', 'example', 'what it does'], r.options.map((o) => [`\`${o.path}\``, o.type, o.default, o.example, sentence(o.description)]))
      : 'No options.',
    '',
  );
  if (r.metrics?.length) {
    lines.push(
      `Metrics (gate as \`${r.stepId}.<metric>\`):`,
      '',
      table(
        ['metric', 'unit', 'better', 'what it is'],
        r.metrics.map((m) => [`\`${m.path}\``, m.gate ? m.unit : `${m.unit} (no gate)`, m.better, sentence(m.description) + (m.optional ? ' Only in some runs.' : '')]),
      ),
      '',
    );
  } else if (!r.openMetrics) lines.push('Metrics: none declared.', '');
  if (r.openMetrics) lines.push(`With \`metrics:\`, the names in the command's JSON output are metrics too (\`${r.stepId}.<name>\`).`, '');
  return lines.join('\n');
}

export function renderRecipeReference(schema: Json, plugins: Plugin[] = BUILTIN_PLUGINS): string {
  const steps = stepReferences(plugins);
  return `<!-- Generated by \`npm run schema\` (src/recipe/recipe-reference.ts) from schemas/recipe.schema.json and the
     built-in plugins' options and metrics: edit those, not this file. tests/recipe-reference.test.ts checks it. -->

# Recipe reference

Everything a recipe can say: its top-level keys, the keys of a step, every built-in step with each
option (type, default, an example) and each metric it reports (unit, which way is better), the gate
syntax and the exit codes. The README's "A recipe" section walks through a whole recipe.

- [Top-level keys](#top-level-keys) · [Step keys](#step-keys) · [Gates](#gates) · [Exit codes](#exit-codes) · [Editor support](#editor-support)
- Steps: ${steps.map((s) => `[\`${s.plugin}\`](#${anchor(s.plugin)})`).join(' · ')}

## Top-level keys

${recipeKeys(schema)}

Paths in a recipe (\`model\`, \`data\`, files in options) are relative to the recipe file. Every
string may hold \`\${{ matrix.NAME }}\` in a recipe with a \`matrix:\` (block style, not inside \`{ … }\`).

## Step keys

${stepKeys(schema)}

A step's \`with:\` holds its plugin's options, listed below. An option left out takes its default;
\`qrun validate recipe.yaml\` checks every option (a misspelt key gets a "did you mean") and prints
how the steps' inputs are wired.

## Gates

${sentence((schema.properties as { gates: Json }).gates.description as string)}

\`\`\`yaml
gates:
  bench.agreement: ">= 0.995"      # INT8 and FP32 pick the same class on 99.5% of the evaluation set
  bench.accuracyDrop: "<= 0.01"    # at most one point of label accuracy lost
  bench.speedup: "> 1"
\`\`\`

- The key is \`<step id>.<metric>\`: the step's \`id:\`, or its default, the plugin name with dots as dashes (\`qdq.insert\` → \`qdq-insert\`), then a metric listed under that step below. Only metrics with a unit can be gated.
- Quote the condition: a bare \`>\` starts a YAML block.
- Ratios are fractions: an agreement of 99.5% is \`0.995\`; an accuracy drop of one point is \`0.01\`.
- A gate fails when its metric is missing or null (a label accuracy without labels); a gate on a step the invocation did not reach (\`--until\`, \`--only\`) is not evaluated.
- A failed gate makes the run's verdict "gates failed" and the exit code 3.

## Exit codes

${table(['code', 'meaning'], EXIT_CODES.map(([c, m]) => [`\`${c}\``, sentence(m)]))}

## Editor support

Start a recipe with the schema line, as every recipe in \`recipes/\` does:

\`\`\`yaml
# yaml-language-server: $schema=../schemas/recipe.schema.json
\`\`\`

Editors that run [yaml-language-server](https://github.com/redhat-developer/yaml-language-server) —
VS Code with Red Hat's YAML extension (\`redhat.vscode-yaml\`), Neovim's \`yamlls\`, Helix, Zed — read
that comment and complete and check the recipe as you type: top-level keys, plugin names, and each
step's options with these descriptions. The path is relative to the recipe file.

## Steps

A step can also be a plugin of your own (\`uses: ./plugins/my-step\`) or an npm package, and a tool in
any language runs through \`command\`: see docs/plugins.md.

${steps.map(stepSection).join('\n')}`;
}
