// The cache key of a step. Every field is here because changing it can change the step's outputs
// or what its entry reports; nothing else is (absolute paths, timestamps and the step's id are left
// out, so renaming a step or moving the project keeps its cache). The model is wireit's
// fingerprint.ts: a comment per field saying why it is there.
import type { Plugin } from '../engine/plugin.ts';
import { canonicalJson, sha256 } from '../util/hash.ts';
import type { CodeClosure } from './code-closure.ts';
import { cpuKernelFamily } from './cpu-kernels.ts';

/** Bump to invalidate every entry when the layout of KeyMaterial changes. */
export const KEY_FORMAT = 2;

export interface KeyMaterial {
  /** Which code runs: the plugin's name … */
  plugin: string;
  /** … and its version, bumped by its author whenever the same inputs would give different outputs. */
  pluginVersion: string;
  /** The resolved options (defaults filled in), so an explicit default and an omitted one agree. */
  options: Record<string, unknown>;
  /** Content digests of the input artifacts by input name: content, never paths or mtimes. */
  inputs: Record<string, string>;
  /**
   * Content digests of files read straight from the user's disk (model directory, data sets, a
   * command's scripts), symbolic links followed: a hub snapshot is made of links into blobs/.
   */
  sources: Record<string, string>;
  /**
   * What a source is known as besides its content: a hub model's `org/name@commit`. hf.load reports
   * the hub id and revision, so an entry built from one repository is never reported as another's,
   * even when their files are identical.
   */
  revisions: Record<string, string>;
  /**
   * The plugin's fingerprint: versions of tools outside Node that change results (TensorRT and the
   * GPU for an engine, python/torch/transformers for the torch worker, a command's `--version`).
   */
  fingerprint: Record<string, unknown>;
  /**
   * The plugin's code: the sha256 of every module its entry imports, transitively, and of the files
   * that code names beside itself (the torch worker's Python, triton's model.py). Only the plugin's
   * own closure: editing the exporter re-runs onnx.export, not hf.load. Empty for a plugin object
   * registered without an entry module (tests).
   */
  code: { entry: string; files: Record<string, string> };
  /**
   * Installed versions of the npm packages that closure imports, and of their dependencies:
   * upgrading onnxruntime-node, protobufjs, onnx-buf or @huggingface/tokenizers changes outputs
   * without changing a line of qrun.
   */
  packages: Record<string, string>;
  /**
   * Node's version, the platform and the architecture: V8's Math functions, Buffer and the native
   * addons differ between them, and a native package built for one does not run on another.
   */
  runtime: { node: string; platform: string; arch: string };
  /**
   * The CPU kernel family (src/cache/cpu-kernels.ts) for steps whose outputs come from onnxruntime's
   * or PyTorch's numbers, which differ between instruction sets; null for the others, so a cache
   * shared between machines still shares them. See `cpuKernelsOf`.
   */
  cpuKernels: string | null;
  /** The layout of this object (KEY_FORMAT). */
  keyFormat: number;
}

export function cacheKey(material: KeyMaterial): string {
  return sha256(canonicalJson(material));
}

export function runtimeOf(): KeyMaterial['runtime'] {
  return { node: process.version, platform: process.platform, arch: process.arch };
}

/** Packages whose presence in a closure means the plugin computes with CPU kernels picked by instruction set. */
const KERNEL_PACKAGES = ['onnxruntime-node'];

/**
 * Whether a step's outputs depend on the CPU's instruction set, and why. A plugin says so itself
 * (`cpuKernels(options)`): the torch plugins (PyTorch in the worker, which qrun's import scan cannot
 * see), or a plugin that loads onnxruntime only to check that a model loads. Otherwise a plugin whose
 * code imports onnxruntime-node depends on it: wrongly sharing a result between CPUs is the failure
 * to avoid, an extra run on another machine is only a cost.
 */
export function cpuDependence(plugin: Plugin, options: Record<string, unknown>, closure: Pick<CodeClosure, 'packages'>): { dependent: boolean; why: string } {
  const declared = plugin.cpuKernels?.(options);
  if (declared) return declared;
  const loaded = KERNEL_PACKAGES.filter((p) => p in closure.packages && closure.packages[p] !== 'not installed');
  return loaded.length ? { dependent: true, why: `its code loads ${loaded.join(', ')}` } : { dependent: false, why: 'its code loads no CPU kernel library' };
}

export function cpuKernelsOf(plugin: Plugin, options: Record<string, unknown>, closure: Pick<CodeClosure, 'packages'>, env: NodeJS.ProcessEnv = process.env): string | null {
  return cpuDependence(plugin, options, closure).dependent ? cpuKernelFamily(env) : null;
}

const short = (v: unknown) => (typeof v === 'string' ? v.slice(0, 12) : JSON.stringify(v));

/** Names the fields that differ between two key materials, for `qrun plan`'s "why it runs". */
export function explainKeyChange(previous: KeyMaterial, current: KeyMaterial): string[] {
  // Materials of another layout cannot be compared field by field.
  if (previous.keyFormat !== current.keyFormat) return [`cache key format changed (${previous.keyFormat} → ${current.keyFormat})`];
  const reasons: string[] = [];
  if (previous.plugin !== current.plugin) reasons.push(`plugin changed (${previous.plugin} → ${current.plugin})`);
  if (previous.pluginVersion !== current.pluginVersion) reasons.push(`plugin version ${previous.pluginVersion} → ${current.pluginVersion}`);
  const changedKeys = (a: Record<string, unknown>, b: Record<string, unknown>) =>
    [...new Set([...Object.keys(a), ...Object.keys(b)])].sort().filter((k) => canonicalJson(a[k]) !== canonicalJson(b[k]));
  for (const k of changedKeys(previous.options, current.options)) reasons.push(`option ${k}: ${JSON.stringify(previous.options[k])} → ${JSON.stringify(current.options[k])}`);
  for (const [what, a, b] of [
    ['input', previous.inputs, current.inputs],
    ['source', previous.sources, current.sources],
    ['revision of', previous.revisions, current.revisions],
    ['tool', previous.fingerprint, current.fingerprint],
  ] as const) {
    for (const k of changedKeys(a, b)) {
      reasons.push(k in a && k in b ? `${what} ${k} changed (${short(a[k])} → ${short(b[k])})` : k in b ? `${what} ${k} added` : `${what} ${k} removed`);
    }
  }
  const codeFiles = changedKeys(previous.code.files, current.code.files);
  if (codeFiles.length || previous.code.entry !== current.code.entry) {
    // A built-in by its folder (plugins/onnx-export); an external plugin, keyed relative to its own
    // folder, by its name.
    const entry = current.code.entry;
    const where = /\/index\.[cm]?[jt]sx?$/.test(entry) ? entry.replace(/\/index\.[cm]?[jt]sx?$/, '') : entry.includes('/') ? entry : `plugin ${current.plugin}`;
    const shown = codeFiles.slice(0, 3).join(', ') + (codeFiles.length > 3 ? `, and ${codeFiles.length - 3} more` : '');
    reasons.push(`code of ${where} changed${shown ? ` (${shown})` : ''}`);
  }
  for (const name of changedKeys(previous.packages, current.packages)) {
    const [a, b] = [previous.packages[name], current.packages[name]];
    reasons.push(a === undefined ? `package ${name} ${b} now used` : b === undefined ? `package ${name} ${a} no longer used` : `package ${name} ${a} → ${b}`);
  }
  const rt = (r: KeyMaterial['runtime']) => `Node ${r.node} on ${r.platform}-${r.arch}`;
  if (rt(previous.runtime) !== rt(current.runtime)) reasons.push(`${rt(previous.runtime)} → ${rt(current.runtime)}`);
  if (previous.cpuKernels !== current.cpuKernels) reasons.push(`CPU kernels ${previous.cpuKernels ?? 'not keyed'} → ${current.cpuKernels ?? 'not keyed'}`);
  return reasons;
}
