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
import type { RemoteCache } from '../cache/remote-cache.ts';
import type { Recipe } from '../recipe/recipe.ts';
import { digestPath } from '../util/hash.ts';
import { digestArtifact } from '../cache/artifact-digest.ts';
import { guardPluginExit } from './process-exit.ts';
import type { ResolvedStep } from './plan.ts';
import type { Artifact, RecipeContext, SourceRef, StepEvent, StepResult } from './plugin.ts';

/** A build folder of the store: the plugin writes into outDir, scratch goes to scratchDir. */
type Build = Awaited<ReturnType<CacheStore['newBuild']>>;

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
  /** On a job queue: the worker that ran the step or took it from the cache (src/queue/). */
  ranOn?: string;
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
  /** Steps that must come from the cache (what `--only` consumes): a miss is an error, not a run. */
  cacheOnly?: Set<string>;
  /** Steps before `--only` that it does not consume: a hit is taken, a miss leaves the step out (not run). */
  lookupOnly?: Set<string>;
  signal?: AbortSignal;
  /** Verify cache hits file by file (default true). */
  verify?: boolean;
  /** The shared cache (src/cache/remote-cache.ts): looked up after a local miss, given every entry this run commits. */
  remote?: RemoteCache;
}

/** A step while runStep works on it: what its record starts with, how long it has taken, how it fails. */
interface RunningStep {
  base: Pick<StepRecord, 'id' | 'uses' | 'plugin' | 'pluginVersion' | 'options'>;
  started: number;
  /** Set once the key is known, so a failure after that is recorded with it. */
  key?: string;
  /** Why the step runs although cached: forced, or a damaged entry rebuilt. */
  cacheNote?: string;
  elapsed(): number;
  /** Records the step as failed and throws STEP_FAILED, naming the steps already done. */
  fail(e: unknown): never;
  done: string[];
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

  /**
   * Runs one step, or takes it from the cache: its key (the plugin's sources and fingerprint), the
   * key's lock, a verified cache hit, else a build (the plugin's run(), its outputs checked and
   * hashed, the entry committed). A failure is recorded and thrown with the steps already done; a
   * skip is recorded and, for a step not marked optional, fails the run.
   */
  async runStep(step: ResolvedStep, onEvent: (e: StepEvent) => void): Promise<StepRecord> {
    const run = this.startRecord(step);
    let info: KeyInfo;
    try {
      // keyOf calls the plugin's sources() and fingerprint(): a process.exit there fails the step too.
      info = await guardPluginExit(() => this.keyOf(step));
    } catch (e) {
      // Not needed by --only, and its inputs are not there (a step before it was left out): left out too.
      if (this.options.lookupOnly?.has(step.spec.id) && e instanceof QrunError && e.diagnostics[0]?.code === 'INPUT_UNAVAILABLE') return this.leaveOut(run, undefined);
      return run.fail(e);
    }
    run.key = info.key;
    const lock = await this.lockKey(info.key, onEvent).catch(run.fail);
    try {
      const cached = await this.fromCache(step, info, run, onEvent);
      if (cached) return cached;
      if (this.options.lookupOnly?.has(step.spec.id)) return this.leaveOut(run, info);
      if (this.options.cacheOnly?.has(step.spec.id)) throw errors.notCachedForOnly(step.spec.id, step.spec.location);
      return await this.build(step, info, lock, run, onEvent);
    } finally {
      await lock.release();
    }
  }

  /** What every record of this step starts with, and how a failure is recorded and thrown. */
  private startRecord(step: ResolvedStep): RunningStep {
    const started = performance.now();
    const base = { id: step.spec.id, uses: step.spec.uses, plugin: step.plugin.name, pluginVersion: step.plugin.version, options: step.options };
    const done = [...this.records.values()].filter((r) => r.status === 'hit' || r.status === 'ran').map((r) => r.id);
    const run: RunningStep = {
      base,
      started,
      cacheNote: this.options.force?.has(step.spec.id) ? 'forced' : undefined,
      elapsed: () => performance.now() - started,
      fail: (e: unknown): never => {
        this.records.set(step.spec.id, { ...base, ...(run.key ? { key: run.key } : {}), status: 'failed', durationMs: run.elapsed(), metrics: {}, outputs: {}, error: (e as Error).message });
        throw errors.stepFailed(step.spec.id, step.plugin.name, done, e);
      },
      done,
    };
    return run;
  }

  /** The key's lock; while another process holds it, a warning says who (plain/CI output shows warnings only, and a silent wait looks like a hang). */
  private lockKey(key: string, onEvent: (e: StepEvent) => void): Promise<HeldLock> {
    return this.store.lock(key, (holder, file) => onEvent({ type: 'log', level: 'warn', message: `waiting for ${file} held by ${describeHolder(holder)}` }), this.options.signal);
  }

  /** The verified cache entry as this step's record, or undefined (no entry, forced, not cacheable, or damaged and evicted). */
  private async fromCache(step: ResolvedStep, info: KeyInfo, run: RunningStep, onEvent: (e: StepEvent) => void): Promise<StepRecord | undefined> {
    if (step.plugin.cacheable === false || run.cacheNote) return undefined;
    // A read error (EACCES, EMFILE, EIO) fails the step and leaves the entry alone; only a verified
    // mismatch ('corrupt') evicts it.
    let lookup = await this.store.lookup(info.key, { verify: this.options.verify, touch: true }).catch(run.fail);
    if (lookup.status !== 'hit') {
      const warn = (message: string) => onEvent({ type: 'log', level: 'warn', message });
      if (lookup.status === 'corrupt') await this.evictDamaged(info.key, run, lookup.reason, warn);
      const fetched = await this.options.remote?.fetch(info.key, this.store, warn).catch(run.fail);
      if (fetched) {
        lookup = { status: 'hit', entry: fetched };
        run.cacheNote = 'remote cache';
      }
    }
    if (lookup.status === 'hit') {
      this.adoptOutputs(step, lookup.entry.manifest, lookup.entry.outDir);
      const record: StepRecord = {
        ...run.base,
        key: info.key,
        status: 'hit',
        ...(run.cacheNote ? { cacheNote: run.cacheNote } : {}),
        durationMs: run.elapsed(),
        metrics: lookup.entry.manifest.metrics,
        outputs: this.outputsOf(step),
        fingerprint: info.material.fingerprint,
      };
      this.records.set(step.spec.id, record);
      return record;
    }
    return undefined;
  }

  /** A verified mismatch: the entry is removed and the step rebuilt (or taken from the remote cache), saying why. */
  private async evictDamaged(key: string, run: RunningStep, reason: string, warn: (message: string) => void): Promise<void> {
    run.cacheNote = `cache entry was damaged (${reason}) and was rebuilt`;
    warn(run.cacheNote);
    await this.store.evict(key);
  }

  /** A step before --only that it does not need and the cache does not hold: recorded as not run, with why. */
  private leaveOut(run: RunningStep, info: KeyInfo | undefined): StepRecord {
    const record: StepRecord = {
      ...run.base,
      ...(info ? { key: info.key } : {}),
      status: 'not-run',
      cacheNote: info ? 'not in the cache, and --only does not need it' : 'an input is not there, and --only does not need it',
      durationMs: run.elapsed(),
      metrics: {},
      outputs: {},
    };
    this.records.set(run.base.id, record);
    return record;
  }

  /** Runs the plugin in a fresh build folder, then records a skip or checks and commits the outputs. */
  private async build(step: ResolvedStep, info: KeyInfo, lock: HeldLock, run: RunningStep, onEvent: (e: StepEvent) => void): Promise<StepRecord> {
    const build = await this.store.newBuild(info.key);
    let result: StepResult | void;
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
      return run.fail(lock.lost.aborted ? lock.lost.reason : e);
    }
    if (result?.skipped) {
      await this.store.discard(build);
      return this.recordSkip(step, info, run, result.skipped, result.metrics);
    }
    const outputs = await this.hashOutputs(step, info, build, run);
    return this.commit(step, info, build, lock, run, outputs, result?.metrics ?? {}, onEvent);
  }

  /** A step that could not do its work here: recorded as skipped; a failure unless the recipe marks it optional. */
  private recordSkip(step: ResolvedStep, info: KeyInfo, run: RunningStep, skipped: NonNullable<StepResult['skipped']>, metrics: StepResult['metrics']): StepRecord {
    const record: StepRecord = {
      ...run.base,
      key: info.key,
      status: 'skipped',
      durationMs: run.elapsed(),
      metrics: metrics ?? {},
      outputs: {},
      skipped,
      fingerprint: info.material.fingerprint,
    };
    this.records.set(step.spec.id, record);
    if (!step.spec.optional) {
      record.status = 'failed';
      throw errors.stepFailed(
        step.spec.id,
        step.plugin.name,
        run.done,
        new QrunError([{ code: 'STEP_CANNOT_RUN', message: skipped.reason, hint: `${skipped.fix ?? ''}${skipped.fix ? '; or ' : ''}mark the step \`optional: true\` in the recipe to skip it` }]),
      );
    }
    return record;
  }

  /** Every declared output, hashed; a required one the plugin did not write fails the step (the contract the engine enforces). */
  private async hashOutputs(step: ResolvedStep, info: KeyInfo, build: Build, run: RunningStep): Promise<Record<string, ManifestOutput>> {
    const outputs: Record<string, ManifestOutput> = {};
    for (const [name, spec] of Object.entries(step.outputSpecs)) {
      const p = join(build.outDir, spec.path);
      if (!existsSync(p)) {
        if (spec.optional) continue;
        await this.store.discard(build);
        this.records.set(step.spec.id, { ...run.base, key: info.key, status: 'failed', durationMs: run.elapsed(), metrics: {}, outputs: {} });
        throw errors.outputMissing(step.spec.id, step.plugin.name, name, spec.path);
      }
      // A model's digest covers the external data files it names; one that is not beside it fails the step.
      const d = await digestArtifact(p, step.outputKinds[name]!).catch(async (e: unknown) => {
        await this.store.discard(build);
        return run.fail(e);
      });
      outputs[name] = { kind: step.outputKinds[name]!, path: spec.path, sha256: d.sha256, size: d.size, files: d.files };
    }
    return outputs;
  }

  /** The build as the key's cache entry (unless the lock was lost meanwhile), its outputs adopted, the step recorded as ran. */
  private async commit(step: ResolvedStep, info: KeyInfo, build: Build, lock: HeldLock, run: RunningStep, outputs: Record<string, ManifestOutput>, metrics: Record<string, unknown>, onEvent: (e: StepEvent) => void): Promise<StepRecord> {
    const durationMs = run.elapsed();
    const manifest: Manifest = {
      key: info.key,
      plugin: step.plugin.name,
      pluginVersion: step.plugin.version,
      keyMaterial: info.material as unknown as Record<string, unknown>,
      outputs,
      metrics,
      createdAt: new Date().toISOString(),
      durationMs,
    };
    if (lock.lost.aborted) {
      await this.store.discard(build);
      return run.fail(lock.lost.reason);
    }
    // We chose to build although an entry may exist (forced, damaged, or never a hit): ours
    // replaces it. Otherwise an existing entry won a race and commit returns what is on disk.
    const cacheable = step.plugin.cacheable !== false;
    const entry = await this.store.commit(build, manifest, { replace: !cacheable || run.cacheNote !== undefined }).catch(async (e) => {
      await this.store.discard(build);
      return run.fail(e);
    });
    // Shared once it is whole here: files first, manifest last (remote-cache.ts).
    await this.options.remote?.publish(entry, (message) => onEvent({ type: 'log', level: 'warn', message })).catch(run.fail);
    this.adoptOutputs(step, entry.manifest, entry.outDir);
    const record: StepRecord = {
      ...run.base,
      key: info.key,
      status: 'ran',
      cacheNote: run.cacheNote,
      durationMs,
      metrics: entry.manifest.metrics,
      outputs: this.outputsOf(step),
      fingerprint: info.material.fingerprint,
    };
    this.records.set(step.spec.id, record);
    return record;
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
