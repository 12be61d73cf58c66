// Runs resolved steps in order. For each step: gather its input artifacts, digest its source files,
// compute the cache key, then either take the verified cache entry or run the plugin in a fresh
// build folder, check every declared output exists, hash it and commit the entry atomically.
// Failures and skips are never cached.
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { errors, QrunError } from '../errors.ts';
import { codeClosures, QRUN_ROOT } from '../cache/code-closure.ts';
import { cacheKey, cpuKernelsOf, explainKeyChange, KEY_FORMAT, runtimeOf, type KeyMaterial } from '../cache/fingerprint.ts';
import { describeHolder, type HeldLock } from '../cache/lock.ts';
import type { CacheStore, Manifest, ManifestOutput } from '../cache/store.ts';
import type { Recipe } from '../recipe/recipe.ts';
import { digestPath } from '../util/hash.ts';
import { guardPluginExit } from './process-exit.ts';
import type { ResolvedStep } from './plan.ts';
import type { Artifact, RecipeContext, SourceRef, StepEvent } from './plugin.ts';

export type StepStatus = 'hit' | 'ran' | 'skipped' | 'failed' | 'not-run';

export interface StepRecord {
  id: string;
  uses: string;
  plugin: string;
  pluginVersion: string;
  key?: string;
  status: StepStatus;
  /** Why a step ran: no entry, a corrupt entry, or --force. */
  cacheNote?: string;
  durationMs: number;
  metrics: Record<string, unknown>;
  outputs: Record<string, { kind: string; sha256: string; size: number; path: string }>;
  skipped?: { reason: string; fix?: string };
  error?: string;
  options: Record<string, unknown>;
  fingerprint?: Record<string, unknown>;
}

export interface ExecutorOptions {
  force?: Set<string>;
  /** Steps that must come from the cache (upstream of `--only`): a miss is an error, not a run. */
  cacheOnly?: Set<string>;
  signal?: AbortSignal;
  /** Verify cache hits file by file (default true). */
  verify?: boolean;
}

export interface KeyInfo {
  key: string;
  material: KeyMaterial;
  sources: Record<string, string>;
  inputs: Record<string, Artifact>;
}

export function recipeContext(recipe: Recipe): RecipeContext {
  const m = recipe.model;
  // A hub id's revision travels with the model's SourceRef, so every plugin that reads the model
  // keys on it (`org/name@commit`; the id without the `@branch` the recipe may have named).
  const model = m && { path: m.path, location: m.location, ...(m.hub ? { revision: `${m.hub.id.split('@')[0]}@${m.hub.revision}` } : {}) };
  return { file: recipe.file, dir: recipe.dir, model, data: recipe.data };
}

export class Executor {
  readonly records = new Map<string, StepRecord>();
  private readonly artifacts = new Map<string, Artifact>();

  constructor(
    readonly recipe: Recipe,
    readonly steps: ResolvedStep[],
    readonly store: CacheStore,
    readonly options: ExecutorOptions = {},
  ) {}

  artifact(ref: string): Artifact | undefined {
    return this.artifacts.get(ref);
  }

  /** The key of a step, once every step before it has run (its inputs' digests are known). */
  async keyOf(step: ResolvedStep): Promise<KeyInfo> {
    const inputs: Record<string, Artifact> = {};
    for (const [name, wiring] of Object.entries(step.inputs)) {
      if (!wiring) continue;
      const a = this.artifacts.get(`${wiring.step}.${wiring.output}`);
      if (a) inputs[name] = a;
      else if (!step.inputSpecs[name]?.optional) {
        const producer = this.records.get(wiring.step);
        throw new QrunError([
          {
            code: 'INPUT_UNAVAILABLE',
            message: `step "${step.spec.id}" needs "${wiring.step}.${wiring.output}", which step "${wiring.step}" did not produce this time${producer?.status === 'skipped' ? ` (it was skipped: ${producer.skipped?.reason})` : ''}`,
            location: step.spec.location,
            hint:
              producer?.skipped?.fix ??
              (producer?.metrics.missingOutputs as Record<string, string> | undefined)?.[wiring.output] ??
              `make "${step.spec.id}" not depend on "${wiring.step}"`,
          },
        ]);
      }
    }
    const context = recipeContext(this.recipe);
    let sourceRefs: Record<string, SourceRef>;
    try {
      sourceRefs = step.plugin.sources?.(step.options, context) ?? {};
    } catch (e) {
      // A plugin sees no recipe positions: an error about its options points at its step.
      const first = e instanceof QrunError ? e.diagnostics[0] : undefined;
      if (first && !first.location) first.location = step.spec.location;
      throw e;
    }
    const sources: Record<string, string> = {};
    const sourceDigests: Record<string, string> = {};
    const revisions: Record<string, string> = {};
    for (const [name, ref] of Object.entries(sourceRefs)) {
      if (!existsSync(ref.path)) {
        const what = name.startsWith('data:') ? `data set "${name.slice(5)}"` : name;
        throw errors.fileNotFound(what, ref.path, ref.location ?? step.spec.location);
      }
      sources[name] = ref.path;
      sourceDigests[name] = (await digestPath(ref.path)).sha256;
      if (ref.revision) revisions[name] = ref.revision;
    }
    const fingerprint = (await step.plugin.fingerprint?.(step.options, context)) ?? {};
    // Built-ins are keyed on paths relative to qrun's folder, external plugins on paths relative to
    // their own: moving either keeps its cache.
    const entry = step.plugin.entry;
    const closure = entry ? codeClosures.of(entry, this.pluginRoot(entry)) : { entry: '', files: {}, packages: {} };
    const material: KeyMaterial = {
      plugin: step.plugin.name,
      pluginVersion: step.plugin.version,
      options: step.options,
      inputs: Object.fromEntries(Object.entries(inputs).map(([k, a]) => [k, a.sha256])),
      sources: sourceDigests,
      revisions,
      fingerprint,
      code: { entry: closure.entry, files: closure.files },
      packages: closure.packages,
      runtime: runtimeOf(),
      cpuKernels: cpuKernelsOf(step.plugin, step.options, closure),
      keyFormat: KEY_FORMAT,
    };
    return { key: cacheKey(material), material, sources, inputs };
  }

  private pluginRoot(entry: string): string {
    const rel = relative(QRUN_ROOT, entry);
    return rel.startsWith('..') || isAbsolute(rel) ? dirname(entry) : QRUN_ROOT;
  }

  /** Why a step will run or not, without running it (for `qrun plan`). */
  async explain(step: ResolvedStep, info: KeyInfo, previous?: KeyMaterial): Promise<{ hit: boolean; reasons: string[] }> {
    if (this.options.force?.has(step.spec.id)) return { hit: false, reasons: ['--force'] };
    const lookup = await this.store.lookup(info.key, { verify: false });
    if (lookup.status === 'hit') return { hit: true, reasons: [] };
    if (!step.plugin.cacheable && step.plugin.cacheable !== undefined) return { hit: false, reasons: ['the step is not cacheable'] };
    if (previous) return { hit: false, reasons: explainKeyChange(previous, info.material) };
    return { hit: false, reasons: ['never run with these inputs'] };
  }

  /** Registers a hit's outputs without running (used by `plan` to walk the chain of keys). */
  adoptOutputs(step: ResolvedStep, manifest: Manifest, outDir: string): void {
    for (const [name, out] of Object.entries(manifest.outputs)) {
      this.artifacts.set(`${step.spec.id}.${name}`, { kind: out.kind, path: join(outDir, out.path), sha256: out.sha256, size: out.size });
    }
  }

  async runStep(step: ResolvedStep, onEvent: (e: StepEvent) => void): Promise<StepRecord> {
    const started = performance.now();
    const base = {
      id: step.spec.id,
      uses: step.spec.uses,
      plugin: step.plugin.name,
      pluginVersion: step.plugin.version,
      options: step.options,
    };
    const done = [...this.records.values()].filter((r) => r.status === 'hit' || r.status === 'ran').map((r) => r.id);
    let info: KeyInfo;
    try {
      // keyOf calls the plugin's sources() and fingerprint(): a process.exit there fails the step too.
      info = await guardPluginExit(() => this.keyOf(step));
    } catch (e) {
      const record: StepRecord = { ...base, status: 'failed', durationMs: performance.now() - started, metrics: {}, outputs: {}, error: (e as Error).message };
      this.records.set(step.spec.id, record);
      throw errors.stepFailed(step.spec.id, step.plugin.name, done, e);
    }
    const cacheable = step.plugin.cacheable !== false;
    let cacheNote: string | undefined = this.options.force?.has(step.spec.id) ? 'forced' : undefined;

    const key = info.key;
    const fail = (e: unknown): never => {
      this.records.set(step.spec.id, { ...base, key, status: 'failed', durationMs: performance.now() - started, metrics: {}, outputs: {}, error: (e as Error).message });
      throw errors.stepFailed(step.spec.id, step.plugin.name, done, e);
    };
    let lock: HeldLock;
    try {
      // At warn level: plain/CI output shows warnings only, and a wait nobody sees looks like a hang.
      lock = await this.store.lock(
        key,
        (holder, file) => onEvent({ type: 'log', level: 'warn', message: `waiting for ${file} held by ${describeHolder(holder)}` }),
        this.options.signal,
      );
    } catch (e) {
      return fail(e);
    }
    try {
      if (cacheable && !cacheNote) {
        // A read error (EACCES, EMFILE, EIO) fails the step and leaves the entry alone; only a
        // verified mismatch ('corrupt') evicts it.
        const lookup = await this.store.lookup(info.key, { verify: this.options.verify, touch: true }).catch(fail);
        if (lookup.status === 'hit') {
          this.adoptOutputs(step, lookup.entry.manifest, lookup.entry.outDir);
          const record: StepRecord = {
            ...base,
            key: info.key,
            status: 'hit',
            durationMs: performance.now() - started,
            metrics: lookup.entry.manifest.metrics,
            outputs: this.outputsOf(step),
            fingerprint: info.material.fingerprint,
          };
          this.records.set(step.spec.id, record);
          return record;
        }
        if (lookup.status === 'corrupt') {
          cacheNote = `cache entry was damaged (${lookup.reason}) and was rebuilt`;
          onEvent({ type: 'log', level: 'warn', message: cacheNote });
          await this.store.evict(info.key);
        }
      }

      if (this.options.cacheOnly?.has(step.spec.id)) {
        throw new QrunError([
          {
            code: 'NOT_CACHED',
            message: `step "${step.spec.id}" is not in the cache, and --only runs one step on cached inputs`,
            location: step.spec.location,
            hint: `run the recipe once without --only (or with --until ${step.spec.id})`,
          },
        ]);
      }
      const build = await this.store.newBuild(info.key);
      let result;
      try {
        // A process.exit in the plugin fails this step instead of ending qrun (process-exit.ts).
        result = await guardPluginExit(() =>
          step.plugin.run(step.options, info.inputs, info.sources, {
            stepId: step.spec.id,
            outDir: build.outDir,
            tmpDir: build.scratchDir,
            recipeDir: this.recipe.dir,
            // Also stopped when our lock is taken over: another process is building this key now.
            signal: AbortSignal.any([this.options.signal ?? new AbortController().signal, lock.lost]),
            emit: onEvent,
            artifactOf: (ref) => this.artifacts.get(ref),
          }),
        );
      } catch (e) {
        await this.store.discard(build);
        return fail(lock.lost.aborted ? lock.lost.reason : e);
      }

      if (result?.skipped) {
        await this.store.discard(build);
        const record: StepRecord = {
          ...base,
          key: info.key,
          status: 'skipped',
          durationMs: performance.now() - started,
          metrics: result.metrics ?? {},
          outputs: {},
          skipped: result.skipped,
          fingerprint: info.material.fingerprint,
        };
        this.records.set(step.spec.id, record);
        if (!step.spec.optional) {
          record.status = 'failed';
          throw errors.stepFailed(
            step.spec.id,
            step.plugin.name,
            done,
            new QrunError([{ code: 'STEP_CANNOT_RUN', message: result.skipped.reason, hint: `${result.skipped.fix ?? ''}${result.skipped.fix ? '; or ' : ''}mark the step \`optional: true\` in the recipe to skip it` }]),
          );
        }
        return record;
      }

      const outputs: Record<string, ManifestOutput> = {};
      for (const [name, spec] of Object.entries(step.outputSpecs)) {
        const p = join(build.outDir, spec.path);
        if (!existsSync(p)) {
          if (spec.optional) continue;
          await this.store.discard(build);
          this.records.set(step.spec.id, { ...base, key: info.key, status: 'failed', durationMs: performance.now() - started, metrics: {}, outputs: {} });
          throw errors.outputMissing(step.spec.id, step.plugin.name, name, spec.path);
        }
        const d = await digestPath(p);
        outputs[name] = { kind: step.outputKinds[name]!, path: spec.path, sha256: d.sha256, size: d.size, files: d.files };
      }
      const durationMs = performance.now() - started;
      const manifest: Manifest = {
        key: info.key,
        plugin: step.plugin.name,
        pluginVersion: step.plugin.version,
        keyMaterial: info.material as unknown as Record<string, unknown>,
        outputs,
        metrics: result?.metrics ?? {},
        createdAt: new Date().toISOString(),
        durationMs,
      };
      if (lock.lost.aborted) {
        await this.store.discard(build);
        return fail(lock.lost.reason);
      }
      // We chose to build although an entry may exist (forced, damaged, or never a hit): ours
      // replaces it. Otherwise an existing entry won a race and commit returns what is on disk.
      const entry = await this.store.commit(build, manifest, { replace: !cacheable || cacheNote !== undefined }).catch(async (e) => {
        await this.store.discard(build);
        return fail(e);
      });
      this.adoptOutputs(step, entry.manifest, entry.outDir);
      const record: StepRecord = {
        ...base,
        key: info.key,
        status: 'ran',
        cacheNote,
        durationMs,
        metrics: entry.manifest.metrics,
        outputs: this.outputsOf(step),
        fingerprint: info.material.fingerprint,
      };
      this.records.set(step.spec.id, record);
      return record;
    } finally {
      await lock.release();
    }
  }

  private outputsOf(step: ResolvedStep): StepRecord['outputs'] {
    const out: StepRecord['outputs'] = {};
    for (const name of Object.keys(step.outputSpecs)) {
      const a = this.artifacts.get(`${step.spec.id}.${name}`);
      if (a) out[name] = { kind: a.kind, sha256: a.sha256, size: a.size, path: a.path };
    }
    return out;
  }
}
