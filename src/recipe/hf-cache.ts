// `model: org/name` — a Hugging Face hub id, resolved through the local cache layout only (nothing is
// downloaded): $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub, then
// models--org--name/snapshots/<commit>, where <commit> is refs/<revision> (default main).
// https://huggingface.co/docs/huggingface_hub/guides/manage-cache
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const HUB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9._/-]+)?$/;

export function looksLikeHubId(value: string): boolean {
  return HUB_ID.test(value) && !value.startsWith('.');
}

export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return join(env.HF_HOME, 'hub');
  return join(homedir(), '.cache', 'huggingface', 'hub');
}

export type HubResolution = { ok: true; path: string; revision: string } | { ok: false; reason: string; hint: string };

/** `org/name` or `org/name@revision` (a branch, tag or commit) → the snapshot folder in the cache. */
export function resolveHubId(id: string, env: NodeJS.ProcessEnv = process.env): HubResolution {
  const [repo, rev = 'main'] = id.split('@') as [string, string?];
  const cache = hubCacheDir(env);
  const repoDir = join(cache, `models--${repo.replace('/', '--')}`);
  const hint = `download it on a connected machine (huggingface-cli download ${repo}${rev !== 'main' ? ` --revision ${rev}` : ''}) and copy ${repoDir} here, or set HF_HOME / HF_HUB_CACHE; a local folder is written as ./path`;
  if (!existsSync(repoDir)) return { ok: false, reason: `"${id}" is not a local folder and not in the Hugging Face cache (${cache})`, hint };
  const ref = join(repoDir, 'refs', rev);
  const commit = existsSync(ref) ? readFileSync(ref, 'utf8').trim() : /^[0-9a-f]{40}$/.test(rev) ? rev : undefined;
  if (!commit) {
    const snapshots = existsSync(join(repoDir, 'snapshots')) ? readdirSync(join(repoDir, 'snapshots')) : [];
    return { ok: false, reason: `"${id}": the cache has no ref "${rev}" (snapshots: ${snapshots.join(', ') || 'none'})`, hint };
  }
  const path = join(repoDir, 'snapshots', commit);
  if (!existsSync(path)) return { ok: false, reason: `"${id}": snapshot ${commit} is missing from ${repoDir}`, hint };
  return { ok: true, path, revision: commit };
}

/**
 * `…/models--org--name/snapshots/<commit>` → the hub id and commit it holds, for a model folder
 * named by its path rather than its id. hf.load reports them, and they join its cache key.
 */
export function hubSnapshotOf(path: string): { id: string; revision: string } | undefined {
  const m = /models--([^/\\]+?)--([^/\\]+)[/\\]snapshots[/\\]([0-9a-f]{40})[/\\]?$/.exec(path);
  return m ? { id: `${m[1]}/${m[2]}`, revision: m[3]! } : undefined;
}
