// command — runs an external tool written in any language as a step, through execa. The recipe
// declares its inputs (by kind), its outputs (files or folders it must write) and the command line,
// with placeholders: {inputs.NAME} and {outputs.NAME} (absolute paths), {recipeDir}, {tmp}.
//
// What the command reads joins its key: its inputs (artifacts), every argument that names a file or
// folder under the recipe folder (`run: [python3, tools/measure.py]`: editing measure.py re-runs the
// step), the files its `files:` globs match (what the arguments do not name: modules the script
// imports, configs it opens), and the tool's `--version`, asked in the recipe folder where run()
// runs it, so `./tools/x` is found and a tool the folder pins (.python-version, a venv) is the one asked.
import { mkdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { execa } from 'execa';
import { globSync } from 'tinyglobby';
import { errors, QrunError } from '../../src/errors.ts';
import type { ArtifactKind, InputSpec, OutputSpec, Plugin, SourceRef } from '../../src/engine/plugin.ts';
import { commandMetrics } from './metrics.ts';

export interface CommandOptions {
  run: string[];
  inputs: Record<string, ArtifactKind>;
  outputs: Record<string, { path: string; kind: ArtifactKind; folder?: boolean }>;
  env: Record<string, string>;
  /** Output (a JSON file) whose object is merged into the step's metrics. */
  metrics?: string;
  /** Globs (relative to the recipe folder) of files the command reads that no argument names. */
  files: string[];
  /** Arguments that print the tool's version, for the cache key; [] to skip. */
  versionArgs: string[];
  timeoutSeconds: number;
}

const KINDS: ArtifactKind[] = ['hf-model', 'onnx-model', 'qdq-model', 'dataset', 'calib-stats', 'qdq-plan', 'engine', 'triton-repo', 'bench-result', 'file', 'folder'];
const NAME = '^[A-Za-z][A-Za-z0-9_-]*$';

function substitute(arg: string, vars: Record<string, string>): string {
  return arg.replace(/\{([A-Za-z][A-Za-z0-9_.-]*)\}/g, (m, key: string) => {
    const v = vars[key];
    if (v === undefined) throw new QrunError([{ code: 'COMMAND_PLACEHOLDER', message: `unknown placeholder ${m} in the command line`, hint: `known: ${Object.keys(vars).map((k) => `{${k}}`).join(', ')}` }]);
    return v;
  });
}

const versionCache = new Map<string, string>();

/**
 * The files and folders a command line names under the recipe folder: an argument as it is
 * (`tools/measure.py`, `./run.sh`), after `{recipeDir}`, or the value of `--opt=PATH`. Other
 * placeholders name artifacts, which are keyed as inputs. The recipe folder itself and the cache
 * inside it (.qrun) are left out: they change with every run.
 */
export function namedPaths(run: string[], recipeDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const arg of run) {
    const value = (/^--?[A-Za-z][\w-]*=(.+)$/.exec(arg)?.[1] ?? arg).replaceAll('{recipeDir}', recipeDir);
    if (value.includes('{')) continue;
    const path = resolve(recipeDir, value);
    const rel = relative(recipeDir, path);
    if (!rel || rel.startsWith('..') || isAbsolute(rel) || rel.split(sep)[0]!.startsWith('.qrun') || !existsSync(path)) continue;
    out[rel.split(sep).join('/')] = path;
  }
  return out;
}

const command: Plugin<CommandOptions> = {
  name: 'command',
  version: '1.0.0',
  description: 'Run an external command as a step, with declared inputs and outputs',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['run'],
    properties: {
      run: { type: 'array', minItems: 1, items: { type: 'string' }, description: 'argv; placeholders {inputs.NAME}, {outputs.NAME}, {recipeDir}, {tmp}', examples: [['python3', 'tools/measure.py', '{inputs.model}', '{outputs.result}']] },
      inputs: {
        type: 'object',
        propertyNames: { pattern: NAME },
        additionalProperties: { enum: KINDS },
        default: {},
        description: 'input name → artifact kind: each takes the latest earlier output of that kind (or the step’s `inputs:` wiring); {inputs.NAME} is its path',
        examples: [{ model: 'qdq-model' }],
      },
      outputs: {
        type: 'object',
        propertyNames: { pattern: NAME },
        additionalProperties: {
          type: 'object',
          additionalProperties: false,
          required: ['path'],
          properties: {
            path: { type: 'string', pattern: '^[A-Za-z0-9._-][A-Za-z0-9._/-]*$', description: 'file or folder name inside the step’s output folder', examples: ['result.json'] },
            kind: { enum: KINDS, default: 'file', description: 'the artifact kind later steps take it as' },
            folder: { type: 'boolean', default: false, description: 'the output is a folder (created empty before the command runs)' },
          },
        },
        default: {},
        description: 'output name → what the command must write: a missing output fails the step; {outputs.NAME} is its path',
        examples: [{ result: { path: 'result.json' } }],
      },
      env: { type: 'object', additionalProperties: { type: 'string' }, default: {}, description: 'environment variables added to qrun’s for the command (and its --version probe)', examples: [{ OMP_NUM_THREADS: '4' }] },
      metrics: { type: 'string', description: 'the name of an output (a JSON object) merged into the step’s metrics, so gates can name them (`step.NAME`)', examples: ['result'] },
      files: {
        type: 'array',
        items: { type: 'string', minLength: 1 },
        default: [],
        description: 'globs, relative to the recipe folder, of files the command reads that no argument names (modules a script imports, configs); their content joins the cache key',
        examples: [['tools/**/*.py', 'configs/measure.toml']],
      },
      versionArgs: { type: 'array', items: { type: 'string' }, default: ['--version'], description: 'arguments that make the tool print its version, which joins the cache key; [] to skip', examples: [['-V']] },
      timeoutSeconds: { type: 'number', exclusiveMinimum: 0, default: 3600, description: 'the step fails when the command runs longer' },
    },
  },
  inputs: (o) => Object.fromEntries(Object.entries(o.inputs).map(([k, kind]): [string, InputSpec] => [k, { kind }])),
  outputs: (o) => Object.fromEntries(Object.entries(o.outputs).map(([k, out]): [string, OutputSpec] => [k, { kind: out.kind, path: out.path }])),
  metrics: commandMetrics,
  // With `metrics: <output>`, the command writes its own metrics: their names are the user's.
  openMetrics: (o) => o.metrics !== undefined,
  sources(o, recipe) {
    const out: Record<string, SourceRef> = {};
    for (const [rel, path] of Object.entries(namedPaths(o.run, recipe.dir))) out[`arg:${rel}`] = { path };
    for (const pattern of o.files) {
      const matches = globSync(pattern, { cwd: recipe.dir, onlyFiles: true, followSymbolicLinks: true });
      // A pattern that matches nothing is a typo more often than not, and would key on nothing.
      if (matches.length === 0) throw errors.commandFilesUnmatched(pattern, recipe.dir);
      for (const m of matches.sort()) out[`file:${m}`] = { path: resolve(recipe.dir, m) };
    }
    return out;
  },
  async fingerprint(o, recipe) {
    const tool = o.run[0]!;
    if (o.versionArgs.length === 0) return { tool };
    // Asked where run() runs the tool, with its environment: `./tools/x` resolves in the recipe folder.
    const cwd = recipe?.dir ?? process.cwd();
    const id = `${cwd}\0${JSON.stringify(o.env)}\0${tool} ${o.versionArgs.join(' ')}`;
    if (!versionCache.has(id)) {
      const r = await execa(tool, o.versionArgs, { cwd, env: o.env, reject: false, timeout: 20_000, all: true });
      versionCache.set(id, r.failed && (r as { code?: string }).code === 'ENOENT' ? 'absent' : (r.all ?? '').split('\n')[0]!.trim().slice(0, 200));
    }
    return { tool, toolVersion: versionCache.get(id) };
  },
  async run(o, inputs, _sources, ctx) {
    const vars: Record<string, string> = { recipeDir: ctx.recipeDir, tmp: ctx.tmpDir };
    for (const [k, a] of Object.entries(inputs)) vars[`inputs.${k}`] = a.path;
    for (const [k, out] of Object.entries(o.outputs)) {
      const p = join(ctx.outDir, out.path);
      vars[`outputs.${k}`] = p;
      await mkdir(out.folder ? p : dirname(p), { recursive: true });
    }
    const [file, ...args] = o.run.map((a) => substitute(a, vars));
    ctx.emit({ type: 'progress', message: `running ${file}` });
    const r = await execa(file!, args, { cwd: ctx.recipeDir, env: o.env, reject: false, all: true, cancelSignal: ctx.signal, timeout: o.timeoutSeconds * 1000 });
    if ((r as { code?: string }).code === 'ENOENT') {
      return { skipped: { reason: `${file} not found`, fix: `install ${file} or put it on PATH` } };
    }
    if (r.exitCode !== 0) {
      const tail = (r.all ?? '').split('\n').slice(-20).join('\n');
      throw new QrunError([{ code: 'COMMAND_FAILED', message: `${file} exited with ${r.exitCode ?? r.signal}:\n${tail}`, hint: 'the command line is in the recipe; run it by hand to debug' }]);
    }
    let metrics: Record<string, unknown> = {};
    if (o.metrics) {
      const out = o.outputs[o.metrics];
      const p = out ? join(ctx.outDir, out.path) : '';
      if (!out || !existsSync(p)) throw new QrunError([{ code: 'COMMAND_METRICS', message: `metrics output "${o.metrics}" was not written`, hint: 'declare it under outputs: and write JSON there' }]);
      metrics = JSON.parse(await readFile(p, 'utf8')) as Record<string, unknown>;
    }
    return { metrics: { ...metrics, exitCode: r.exitCode } };
  },
};

export default command;
