import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

/** JSON with object keys sorted at every level: the stable text behind every cache key and hash. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => h.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

export interface PathDigest {
  sha256: string;
  size: number;
  /** For a folder: each file's digest by relative path (POSIX separators). */
  files?: Record<string, string>;
}

/**
 * Content digest of a file, or of a folder as the sha256 of its sorted "digest  relpath" lines:
 * names and bytes count, timestamps and permissions do not.
 */
export async function digestPath(path: string): Promise<PathDigest> {
  const st = await stat(path);
  if (st.isFile()) return { sha256: await sha256File(path), size: st.size };
  const files: Record<string, string> = {};
  let size = 0;
  for (const f of await listFiles(path)) {
    const rel = relative(path, f).split(sep).join('/');
    files[rel] = await sha256File(f);
    size += (await stat(f)).size;
  }
  const lines = Object.entries(files).map(([rel, d]) => `${d}  ${rel}\n`);
  return { sha256: sha256(lines.join('')), size, files };
}
