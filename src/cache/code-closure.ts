// The code a plugin runs: its entry module and every module it imports, followed transitively, plus
// the files that code names relative to itself (`new URL('./worker', import.meta.url)`: the torch
// worker's Python package, triton's model.py template), and the installed version of every npm
// package that closure imports (and of those packages' own dependencies). It joins the plugin's
// cache keys (src/cache/fingerprint.ts): editing the exporter re-runs onnx.export and nothing that
// does not import it, and upgrading onnxruntime-node re-runs exactly the steps that load it.
//
// Imports are found by scanning the source text, not by running it: static `import … from '…'` and
// `export … from '…'` at the start of a line (ESM allows them only at the top level), side-effect
// `import '…'`, literal dynamic `import('…')` and `require('…')`. `import type` is left out: it is
// erased before the code runs. A specifier that resolves to no file (a string that only looks like an
// import) is ignored: had it been a real import, Node would have failed to load the plugin. A package
// that is imported but not installed is recorded as such, so installing it changes the key.
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from '../util/hash.ts';

/** The folder that holds qrun's package.json, src/ and plugins/. */
export const QRUN_ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/[\\/]$/, '');

export interface CodeClosure {
  /** The entry module, relative to the root (POSIX separators). */
  entry: string;
  /** sha256 of every module and named file the entry loads, by path relative to the root. */
  files: Record<string, string>;
  /** Installed version of every package the closure imports, and of their dependencies. */
  packages: Record<string, string>;
}

const MODULE = /\.(?:[cm]?[jt]sx?)$/;
const STATIC_FROM = /^[ \t]*(import|export)\s+(type\s+)?[\w$*{},\s]*?\bfrom\s*(['"])([^'"\n]+)\3/gm;
const SIDE_EFFECT = /^[ \t]*import\s*(['"])([^'"\n]+)\1/gm;
const DYNAMIC = /\b(?:import|require)\s*\(\s*(['"])([^'"\n]+)\1\s*\)/g;
const ASSET = /\bnew\s+URL\s*\(\s*(['"])([^'"\n]+)\1\s*,\s*import\.meta\.url\s*\)/g;
/** Folders and files under a named folder that the code does not read: tests, caches, VCS files. */
const ASSET_SKIP = /^(?:node_modules|__pycache__|tests?|testing|fixtures|\..*|.*\.pyc|.*\.test\.[cm]?[jt]sx?)$/;
const BUILTINS = new Set(builtinModules);

export interface ModuleReferences {
  /** Module specifiers the code loads when it runs. */
  imports: string[];
  /** Files or folders it names relative to itself with `new URL('…', import.meta.url)`. */
  assets: string[];
}

/** What a module's source text loads (see the header for what counts). */
export function scanModule(source: string): ModuleReferences {
  const imports = new Set<string>();
  for (const m of source.matchAll(STATIC_FROM)) if (!m[2]) imports.add(m[4]!);
  for (const m of source.matchAll(SIDE_EFFECT)) imports.add(m[2]!);
  for (const m of source.matchAll(DYNAMIC)) imports.add(m[2]!);
  const assets = new Set<string>();
  for (const m of source.matchAll(ASSET)) assets.add(m[2]!);
  return { imports: [...imports], assets: [...assets] };
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`; a relative, absolute or builtin specifier → undefined. */
export function packageNameOf(specifier: string): string | undefined {
  if (/^[./#]/.test(specifier) || /^[a-z]+:/i.test(specifier)) return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  return BUILTINS.has(name) ? undefined : name;
}

/** A relative specifier → the file Node (or tsx, which maps `.js` to `.ts`) would load. */
function resolveRelative(from: string, specifier: string): string | undefined {
  const base = resolve(dirname(from), specifier.replace(/[?#].*$/, ''));
  const candidates = [base];
  if (/\.[cm]?jsx?$/.test(base)) candidates.push(base.replace(/js(x?)$/, 'ts$1'));
  for (const ext of ['.ts', '.tsx', '.mts', '.cts', '.js', '.mjs', '.cjs', '.json']) candidates.push(base + ext);
  for (const index of ['index.ts', 'index.mts', 'index.js', 'index.mjs']) candidates.push(join(base, index));
  return candidates.find((c) => existsSync(c) && statSync(c).isFile());
}

const posix = (p: string): string => p.split(sep).join('/');

interface PackageInfo {
  name: string;
  version: string;
  dir: string;
  dependencies: string[];
}

/**
 * Computes closures and keeps what it read: one instance per process (`codeClosures`), so the
 * source files shared by every plugin are read and hashed once per run. Tests that edit files make
 * their own instance.
 */
export class CodeClosures {
  private readonly modules = new Map<string, { sha256: string; refs?: ModuleReferences }>();
  private readonly closures = new Map<string, CodeClosure>();
  private readonly packageDirs = new Map<string, PackageInfo | undefined>();

  /** The closure of `entry` (an absolute file path), with paths relative to `root`. */
  of(entry: string, root: string = QRUN_ROOT): CodeClosure {
    const id = `${entry}\0${root}`;
    let closure = this.closures.get(id);
    if (!closure) {
      closure = this.compute(entry, root);
      this.closures.set(id, closure);
    }
    return closure;
  }

  private compute(entry: string, root: string): CodeClosure {
    const files: Record<string, string> = {};
    const packages = new Map<string, Set<string>>();
    const seenPackages = new Set<string>();
    const addPackage = (info: PackageInfo | undefined, name: string) => {
      if (!info) {
        if (!packages.has(name)) packages.set(name, new Set());
        packages.get(name)!.add('not installed');
        return;
      }
      if (seenPackages.has(info.dir)) return;
      seenPackages.add(info.dir);
      if (!packages.has(info.name)) packages.set(info.name, new Set());
      packages.get(info.name)!.add(info.version);
      // A package's own dependencies run too (onnxruntime-node loads onnxruntime-common): their
      // installed versions count, resolved from the package's folder as Node resolves them.
      for (const dep of info.dependencies) addPackage(this.findPackage(dep, info.dir), dep);
    };
    const queue = [entry];
    const seen = new Set<string>();
    while (queue.length) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const mod = this.module(file);
      files[posix(relative(root, file))] = mod.sha256;
      if (!mod.refs) continue;
      for (const spec of mod.refs.imports) {
        if (spec.startsWith('.')) {
          const target = resolveRelative(file, spec);
          if (target) queue.push(target);
          continue;
        }
        const name = packageNameOf(spec);
        if (name) addPackage(this.findPackage(name, dirname(file)), name);
      }
      for (const spec of mod.refs.assets) {
        const target = resolve(dirname(file), spec);
        if (!existsSync(target)) continue;
        for (const f of assetFiles(target)) if (!seen.has(f)) {
          seen.add(f);
          files[posix(relative(root, f))] = this.module(f, false).sha256;
        }
      }
    }
    return {
      entry: posix(relative(root, entry)),
      files: Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
      packages: Object.fromEntries([...packages].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, v]) => [n, [...v].sort().join(' + ')])),
    };
  }

  private module(file: string, scan = true): { sha256: string; refs?: ModuleReferences } {
    let m = this.modules.get(file);
    if (!m || (scan && !m.refs && MODULE.test(file))) {
      const bytes = readFileSync(file);
      m = { sha256: sha256(bytes), refs: scan && MODULE.test(file) ? scanModule(bytes.toString('utf8')) : undefined };
      this.modules.set(file, m);
    }
    return m;
  }

  /** node_modules/<name> from `from` upwards, as Node resolves a bare specifier. */
  private findPackage(name: string, from: string): PackageInfo | undefined {
    const key = `${name}\0${from}`;
    if (this.packageDirs.has(key)) return this.packageDirs.get(key);
    let info: PackageInfo | undefined;
    for (let dir = from; ; dir = dirname(dir)) {
      const pkgFile = join(dir, 'node_modules', name, 'package.json');
      if (existsSync(pkgFile)) {
        const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { name?: string; version?: string; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
        info = {
          name: pkg.name ?? name,
          version: pkg.version ?? 'unversioned',
          dir: realpathSync(dirname(pkgFile)),
          dependencies: [...new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})])].sort(),
        };
        break;
      }
      if (dirname(dir) === dir) break;
    }
    this.packageDirs.set(key, info);
    return info;
  }
}

/** A named file, or the files of a named folder that code can read (tests and caches left out). */
function assetFiles(target: string): string[] {
  if (statSync(target).isFile()) return [target];
  const out: string[] = [];
  const walk = (dir: string, walking: string[]) => {
    for (const name of readdirSync(dir).sort()) {
      if (ASSET_SKIP.test(name)) continue;
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) {
        const real = realpathSync(p);
        if (!walking.includes(real)) walk(p, [...walking, real]);
      } else if (st.isFile()) out.push(p);
    }
  };
  walk(target, [realpathSync(target)]);
  return out;
}

/** The process-wide instance: each closure is computed once per qrun run. */
export const codeClosures = new CodeClosures();
