// qrun's sources are TypeScript, and Node 20 cannot run TypeScript. Running them through tsx's
// loaders costs about a second at every start: its hooks run on a separate thread, every one of
// ~650 modules is resolved and loaded through them, each package file on its own. So the first run
// after `npm ci` (or after a source changed) bundles src/cli.ts with everything it imports into one
// ESM file with esbuild (which tsx itself depends on), in node_modules/.cache/qrun-cli/<digest>/,
// and later runs import that file directly. No build step, no committed output that can go stale,
// and `npx qrun` works on a fresh checkout as before.
//
// What keeps the bundle true to the sources:
// - The key: the digest of every file esbuild read (qrun's sources and the package files it
//   bundled), of this file and of esbuild's version. Every start checks it against the files:
//   qrun's own sources (src/, plugins/, bin/) by content; package files under node_modules by size
//   and mtime, falling back to content when those changed (npm writes new files on every install).
//   A source that changed means a new bundle before anything runs.
// - `import.meta.url`: each module's occurrences are replaced with that module's own file URL as
//   esbuild reads it, so `new URL('./worker', import.meta.url)` (the torch worker's Python, triton's
//   model.py, the recipe schema) still names the file beside the TypeScript source, and
//   src/cache/code-closure.ts still finds the root and keys plugins on the .ts sources.
// - Stack traces: a source map beside the bundle, with Node's source-map support turned on, so a
//   trace names src/…/*.ts lines as it did under tsx (process-exit.ts compares frames to its own path).
// - onnxruntime-node (a native addon) and the packages only some commands load on demand stay
//   outside the bundle and are imported from node_modules as usual; code behind a dynamic import()
//   is a chunk of its own, loaded when that import runs (each command loads what it needs).
//
// Whenever the bundle cannot be used — no esbuild, a folder that cannot be written (a read-only
// global install), a build error, or QRUN_BUILD_AHEAD=0 — qrun runs its sources through tsx as
// before: slower, never wrong.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The folder with qrun's package.json. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/[\\/]$/, '');
/** Where bundles live: under the package's own node_modules, so the packages left outside resolve from there. */
export const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'qrun-cli');
// The bundle holds absolute file URLs (import.meta.url above), so it belongs to one folder: the
// manifest and the digest name the root (a copy of qrun whose node_modules/.cache is a link to
// this one's must not be served this one's bundle, nor flip its manifest).
const MANIFEST = join(CACHE_DIR, `current-${createHash('sha256').update(ROOT).digest('hex').slice(0, 12)}.json`);
const ENTRY = 'src/cli.ts';
/** Packages imported from node_modules at run time instead of bundled: native code, and heavy ones loaded only by some commands. */
const EXTERNAL = ['onnxruntime-node', '@aws-sdk/*', 'bullmq', 'ioredis', 's3rver', 'tsx', 'esbuild', 'vitest', 'typescript'];
/** Bundles kept besides the current one, and how old one must be before it is removed (a run still going may load chunks from it). */
const KEEP_OLD = 3;
const REMOVE_AFTER_MS = 24 * 3600e3;

const posix = (p) => p.split(sep).join('/');
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
/** qrun's own files, as opposed to installed packages (which may be links out of the folder: pnpm, npm link). */
const ownSource = (rel) => !rel.startsWith('../') && !rel.split('/').includes('node_modules');

/**
 * The bundle's URL when it is current (or was just built), else undefined: the caller then runs
 * the sources through tsx. Never throws.
 */
export async function compiledCli({ log = () => {} } = {}) {
  if (process.env.QRUN_BUILD_AHEAD === '0') return undefined;
  try {
    const current = currentBuild();
    if (current) return pathToFileURL(join(CACHE_DIR, current, 'cli.js')).href;
    const built = await build();
    return built ? pathToFileURL(join(CACHE_DIR, built, 'cli.js')).href : undefined;
  } catch (e) {
    // A folder qrun may not write (a read-only or root-owned install) is a normal case: tsx, quietly.
    if (!['EACCES', 'EPERM', 'EROFS'].includes(e?.code)) log(`qrun: running from the TypeScript sources (${e?.message ?? e})`);
    return undefined;
  }
}

/** The digest folder of the manifest's bundle if every file it was built from is unchanged. */
export function currentBuild() {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(MANIFEST, 'utf8'));
  } catch {
    return undefined;
  }
  if (manifest.builder !== builderId()) return undefined;
  if (!existsSync(join(CACHE_DIR, manifest.digest, 'cli.js'))) return undefined;
  for (const [rel, want] of Object.entries(manifest.inputs)) {
    const file = join(ROOT, rel);
    let st;
    try {
      st = statSync(file);
    } catch {
      return undefined;
    }
    // Package files: size and mtime say "unchanged" (npm writes fresh files); qrun's own sources
    // are compared by content, since an editor or a checkout may keep a size and a second.
    if (!ownSource(rel) && st.size === want.size && st.mtimeMs === want.mtimeMs) continue;
    if (st.size !== want.size || sha256(readFileSync(file)) !== want.sha256) return undefined;
  }
  return manifest.digest;
}

/** This file, esbuild's version, Node's major and the root: a change in how bundles are made makes every old one stale. */
function builderId() {
  const esbuildPkg = esbuildRequire().resolve('esbuild/package.json');
  return sha256([readFileSync(fileURLToPath(import.meta.url), 'utf8'), JSON.parse(readFileSync(esbuildPkg, 'utf8')).version, process.version.split('.')[0], ROOT].join('\0'));
}

let cachedRequire;
/** esbuild as tsx resolves it (it is tsx's dependency, hoisted or not). */
function esbuildRequire() {
  if (!cachedRequire) {
    const tsxPkg = createRequire(join(ROOT, 'package.json')).resolve('tsx/package.json');
    cachedRequire = createRequire(tsxPkg);
  }
  return cachedRequire;
}

/** Bundles src/cli.ts into CACHE_DIR/<digest>/ and makes it current; returns the digest folder. */
export async function build() {
  const esbuild = esbuildRequire()('esbuild');
  mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = join(CACHE_DIR, `.build-${process.pid}-${Date.now()}`);
  // The digest of each source as esbuild got it: a file edited while the build runs must not be
  // recorded with its new digest beside a bundle of its old text.
  const seen = new Map();
  const metaUrl = {
    name: 'import-meta-url',
    setup(b) {
      // Only qrun's own TypeScript: package code is left as it is (esbuild's own handling).
      b.onLoad({ filter: /\.[cm]?tsx?$/ }, (args) => {
        if (args.path.includes(`${sep}node_modules${sep}`)) return undefined;
        const bytes = readFileSync(args.path);
        seen.set(args.path, { size: bytes.length, sha256: sha256(bytes) });
        const text = bytes.toString('utf8').replace(/\bimport\.meta\.url\b/g, JSON.stringify(pathToFileURL(args.path).href));
        return { contents: text, loader: args.path.endsWith('x') ? 'tsx' : 'ts' };
      });
    },
  };
  let result;
  try {
    result = await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: { cli: ENTRY },
      outdir: tmp,
      bundle: true,
      format: 'esm',
      // Code behind a dynamic import() stays behind it, in its own chunk: a command loads only what
      // it runs, and packages left outside (the S3 client, bullmq) are imported by the chunks that
      // use them, not at every start.
      splitting: true,
      chunkNames: 'chunk-[hash]',
      platform: 'node',
      target: `node${process.versions.node.split('.')[0]}`,
      external: EXTERNAL,
      // Bundled CommonJS packages call require() for Node's builtins.
      banner: { js: "import { createRequire as __qrunRequire } from 'node:module'; const require = __qrunRequire(import.meta.url);" },
      // Less source to compile at every start (~7% of it); names kept, so traces and \`.name\` read as in the sources.
      minifyWhitespace: true,
      minifySyntax: true,
      legalComments: 'none',
      sourcemap: 'linked',
      sourcesContent: false,
      metafile: true,
      logLevel: 'silent',
      plugins: [metaUrl],
    });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`esbuild: ${e?.errors?.[0]?.text ?? e?.message ?? e}`);
  }
  const inputs = {};
  for (const rel of Object.keys(result.metafile.inputs).sort()) {
    const file = join(ROOT, rel);
    const st = statSync(file);
    const got = seen.get(file);
    inputs[posix(relative(ROOT, file))] = got ? { ...got, mtimeMs: st.mtimeMs } : { size: st.size, mtimeMs: st.mtimeMs, sha256: sha256(readFileSync(file)) };
  }
  const builder = builderId();
  const digest = sha256(JSON.stringify([builder, Object.entries(inputs).map(([k, v]) => [k, v.sha256])])).slice(0, 24);
  const dest = join(CACHE_DIR, digest);
  if (existsSync(join(dest, 'cli.js'))) rmSync(tmp, { recursive: true, force: true });
  else {
    try {
      renameSync(tmp, dest);
    } catch (e) {
      // Another qrun built the same sources at the same moment: its bundle is this one.
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(join(dest, 'cli.js'))) throw e;
    }
  }
  const manifestTmp = `${MANIFEST}.${process.pid}`;
  writeFileSync(manifestTmp, JSON.stringify({ digest, builder, entry: ENTRY, inputs }));
  renameSync(manifestTmp, MANIFEST);
  prune(digest);
  return digest;
}

/** Removes all but the newest KEEP_OLD bundles besides `keep`, and builds left half-done by a killed run. */
function prune(keep) {
  const dirs = readdirSync(CACHE_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== keep)
    .map((d) => ({ name: d.name, mtime: statSync(join(CACHE_DIR, d.name)).mtimeMs }));
  const hour = 3600e3;
  const stale = dirs.filter((d) => d.name.startsWith('.build-') && Date.now() - d.mtime > hour);
  const old = dirs
    .filter((d) => !d.name.startsWith('.'))
    .sort((a, b) => b.mtime - a.mtime)
    .slice(KEEP_OLD)
    .filter((d) => Date.now() - d.mtime > REMOVE_AFTER_MS);
  for (const d of [...stale, ...old]) rmSync(join(CACHE_DIR, d.name), { recursive: true, force: true });
}
