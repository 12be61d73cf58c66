// The cache key of a step. Every field is here because changing it can change the step's outputs;
// nothing else is (paths, timestamps and the step's id are left out, so renaming a step or moving
// the project keeps its cache).
import { canonicalJson, sha256 } from '../util/hash.ts';

export interface KeyMaterial {
  /** Which code runs: the plugin's name … */
  plugin: string;
  /** … and its version, bumped whenever the same inputs would give different outputs. */
  pluginVersion: string;
  /** The resolved options (defaults filled in), so an explicit default and an omitted one agree. */
  options: Record<string, unknown>;
  /** Content digests of the input artifacts by input name: content, never paths or mtimes. */
  inputs: Record<string, string>;
  /** Content digests of files read straight from the user's disk (model directory, data sets). */
  sources: Record<string, string>;
  /**
   * The plugin's fingerprint: versions of tools that change results (onnxruntime, TensorRT and the
   * GPU for an engine, python/torch/transformers for the torch worker).
   */
  fingerprint: Record<string, unknown>;
  /**
   * Digest of qrun's own code (src/ and plugins/): a changed plugin never serves stale results,
   * even when its version was not bumped.
   */
  code: string;
  /** Version of the key format itself: bump to invalidate every entry when this layout changes. */
  keyFormat: 1;
}

export function cacheKey(material: KeyMaterial): string {
  return sha256(canonicalJson(material));
}

/** Names the fields that differ between two key materials, for `qrun plan`'s "why it runs". */
export function explainKeyChange(previous: KeyMaterial, current: KeyMaterial): string[] {
  const reasons: string[] = [];
  if (previous.plugin !== current.plugin) reasons.push(`plugin changed (${previous.plugin} → ${current.plugin})`);
  if (previous.pluginVersion !== current.pluginVersion) reasons.push(`plugin version ${previous.pluginVersion} → ${current.pluginVersion}`);
  const diffKeys = (what: string, a: Record<string, unknown>, b: Record<string, unknown>) => {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      if (canonicalJson(a[k]) !== canonicalJson(b[k])) {
        reasons.push(
          what === 'option'
            ? `option ${k}: ${JSON.stringify(a[k])} → ${JSON.stringify(b[k])}`
            : `${what} ${k} changed${typeof b[k] === 'string' && typeof a[k] === 'string' ? ` (${String(a[k]).slice(0, 12)} → ${String(b[k]).slice(0, 12)})` : ''}`,
        );
      }
    }
  };
  diffKeys('option', previous.options, current.options);
  diffKeys('input', previous.inputs, current.inputs);
  diffKeys('source', previous.sources, current.sources);
  diffKeys('tool', previous.fingerprint, current.fingerprint);
  if (previous.code !== current.code) reasons.push('qrun code changed');
  if (previous.keyFormat !== current.keyFormat) reasons.push('cache key format changed');
  return reasons;
}
