// A Hugging Face hub cache laid out exactly as huggingface_hub writes it
// (https://huggingface.co/docs/huggingface_hub/guides/manage-cache):
//   models--org--name/blobs/<etag>                   the content, once
//   models--org--name/refs/main                      the commit main points to (no newline)
//   models--org--name/snapshots/<commit>/<path>      a relative symbolic link to ../../blobs/<etag>
// The etag of a file stored with Git LFS is its sha256; of any other file, its git blob sha1.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/** Extensions the hub's default .gitattributes stores with Git LFS. */
const LFS = /\.(onnx|safetensors|bin|pt|pth|h5|msgpack|ot|npz|npy)$/;

export function etagOf(path: string, bytes: Uint8Array): string {
  if (LFS.test(path)) return createHash('sha256').update(bytes).digest('hex');
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

export interface HubRepo {
  repoDir: string;
  snapshot: string;
  commit: string;
}

/**
 * Writes `org/name` at `commit` into the hub cache `hub` (what HF_HUB_CACHE names): each file's
 * content as a blob, the snapshot as relative links to the blobs, and refs/main.
 */
export function writeHubRepo(hub: string, id: string, commit: string, files: Record<string, Uint8Array | string>): HubRepo {
  const repoDir = join(hub, `models--${id.replace('/', '--')}`);
  const snapshot = join(repoDir, 'snapshots', commit);
  mkdirSync(join(repoDir, 'blobs'), { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    const bytes = typeof content === 'string' ? Buffer.from(content) : content;
    const blob = join(repoDir, 'blobs', etagOf(path, bytes));
    if (!existsSync(blob)) writeFileSync(blob, bytes);
    const link = join(snapshot, path);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(relative(dirname(link), blob), link);
  }
  mkdirSync(join(repoDir, 'refs'), { recursive: true });
  writeFileSync(join(repoDir, 'refs', 'main'), commit);
  return { repoDir, snapshot, commit };
}

/** The files of a model folder (relative path → bytes), to publish into a hub cache. */
export function modelFiles(dir: string, paths: string[]): Record<string, Uint8Array> {
  return Object.fromEntries(paths.map((p) => [p, readFileSync(join(dir, p))]));
}
