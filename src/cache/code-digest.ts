// Digest of qrun's own code (src/ and plugins/, tests excluded). It joins every cache key so an
// edited plugin can never serve stale results, even when its author forgot to bump its version.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from '../util/hash.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function codeFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'fixtures' && e.name !== 'node_modules' && e.name !== 'testing') out.push(...codeFiles(p));
    } else if (/\.(ts|py|json)$/.test(e.name) && !/\.test\.ts$/.test(e.name)) out.push(p);
  }
  return out;
}

let cached: string | undefined;

export function qrunCodeDigest(): string {
  if (!cached) {
    const files = [...codeFiles(join(ROOT, 'src')), ...codeFiles(join(ROOT, 'plugins'))].sort();
    cached = sha256(files.map((f) => `${sha256(readFileSync(f))}  ${relative(ROOT, f).split('\\').join('/')}\n`).join(''));
  }
  return cached;
}
