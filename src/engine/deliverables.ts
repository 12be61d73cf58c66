// The deliverables folder. The cache keeps each step's outputs under a hashed path
// (.qrun/cache/entries/61/61e2…/out/model.onnx) that `qrun cache gc` may delete; after a run, what a
// user ships — the final model with its external data, the TensorRT engine, the Triton repository,
// the reports — is materialized into a stable folder outside the cache (DVC's `outs`, Bazel's
// bazel-bin, Olive's output_dir): `out/<recipe name>/` beside the recipe, `--out DIR`, or `out:` in
// the recipe; a matrix gets one folder per variant inside it. manifest.json lists every file with
// its sha256 and size, the step output and cache key it came from, and the run.
//
// How the folder changes:
// - Whole or not at all: the files are staged in a sibling `.<name>.tmp-<run>`, then the old folder
//   is renamed aside, the new one renamed in, and the old one removed. A reader sees the old folder
//   or the new one (or, between the two renames, none), never a mix; a file the previous run
//   delivered and this one does not is gone. A lock beside the folder (`.<name>.lock`) serializes
//   two runs delivering to the same place, and lets the next run remove what a killed one left.
// - Only a complete run replaces it: a failed or interrupted run, or one that --until/--only
//   stopped early, leaves the previous set as it was (a partial set beside a complete one's reports
//   would be a folder nobody can trust) and says so. A run whose gates failed is delivered, since
//   the artifacts are what a user debugs, with the verdict in manifest.json and the printed line.
// - Copies, not links into the cache: a symbolic link breaks when gc removes the entry, and a hard
//   link shares the file with the cache, so editing a deliverable in place (a metadata tool that
//   writes into the file) would silently edit the cache entry too — the cache's verification on hit
//   would catch it and rebuild, but the user's edit would have corrupted what other runs reuse.
//   Copies are made with copy-on-write (FICLONE: btrfs, XFS, APFS, ZFS 2.2+) where the file system
//   supports it, which costs neither time nor space, and as plain copies elsewhere. `--out-mode
//   link` (or `out: { mode: link }`) hard-links instead — nothing copied, for large models on file
//   systems without copy-on-write — and falls back to a copy across file systems (EXDEV).
// - A full disk is DISK_FULL naming the file; the stage is removed and the previous set stays.
import { constants, existsSync } from 'node:fs';
import { copyFile, link, lstat, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, posix, relative, resolve, sep } from 'node:path';
import { errors, QrunError } from '../errors.ts';
import { acquireLock, describeHolder, type HeldLock } from '../cache/lock.ts';
import type { OutMode, Recipe } from '../recipe/recipe.ts';
import type { Report } from '../report/build-report.ts';
import { digestModelFile, externalDataLocations } from '../runtime/model-file.ts';
import { writeFileAtomic } from '../util/atomic-write.ts';
import { isDiskFull } from '../util/disk-full.ts';
import { copyRemembering, digestPath } from '../util/hash.ts';
import { MANIFEST_FILE, MODEL_KINDS, REPORT_FILES, selectDeliverables, type DeliverableRef, type DeliverablesSection } from './deliverables-select.ts';
import type { StepRecord } from './executor.ts';
import type { ResolvedStep } from './plan.ts';

/** `qrun run --out DIR --out-mode copy|link`: override the recipe's `out:`. */
export interface DeliverablesOptions {
  out?: string;
  outMode?: OutMode;
}

export interface DeliverablesTarget {
  /** The folder this run (or this variant) delivers into. */
  dir: string;
  mode: OutMode;
  /** A matrix variant's folder is inside this one, which holds the matrix report. */
  container?: string;
}

export interface ManifestFile {
  /** Inside the folder, '/'-separated. */
  path: string;
  sha256: string;
  size: number;
  /** `stepId.output`, or `report`. */
  from: string;
  /** The cache key of the step whose entry it was copied from. */
  key?: string;
  /** An external data file: the model it belongs to. */
  externalDataOf?: string;
  /** Hard-linked to the cache entry (--out-mode link): shares its content with it. */
  hardLink?: true;
}

export interface DeliverablesManifest {
  qrunDeliverables: 1;
  recipe: { name: string; file: string; variant?: string };
  run: { id: string; status: string; finishedAt: string };
  mode: OutMode;
  files: ManifestFile[];
  missing: { from: string; reason: string }[];
}

/** A matrix's folder: the matrix report and one folder per variant, each with its own manifest. */
export interface MatrixManifest {
  qrunDeliverables: 1;
  matrix: { recipe: string; variants: { folder: string; label: string; run?: { id: string; status: string } }[] };
  files: ManifestFile[];
}

type AnyManifest = Partial<DeliverablesManifest & MatrixManifest> & { qrunDeliverables: 1 };

/** The folder a recipe (or one variant of a matrix) delivers into, and how. */
export function deliverablesTarget(recipe: Recipe, options: DeliverablesOptions = {}): DeliverablesTarget {
  const base = options.out !== undefined ? resolve(options.out) : (recipe.out?.path ?? join(recipe.dir, 'out', recipe.name));
  const mode = options.outMode ?? recipe.out?.mode ?? 'copy';
  return recipe.variant ? { dir: join(base, variantFolderName(recipe.variant.label)), mode, container: base } : { dir: base, mode };
}

/**
 * A variant's folder name: its label (`method=minmax,activations=int8`) with every character a file
 * name should not hold percent-encoded, so two labels never share a folder and common ones read as
 * they are. `=` and `,` are allowed in file names on Linux, macOS and Windows.
 */
export function variantFolderName(label: string): string {
  const name = label.replace(/[^A-Za-z0-9._=,+-]/g, (c) => [...Buffer.from(c)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
  return name.startsWith('.') ? `%2E${name.slice(1)}` : name;
}

const lockFileOf = (dir: string) => join(dirname(dir), `.${basename(dir)}.lock`);
const isOurTemp = (dir: string, name: string) => name.startsWith(`.${basename(dir)}.tmp-`) || name.startsWith(`.${basename(dir)}.old-`);
const fromCwd = (p: string) => `${relative(process.cwd(), p) || '.'}/`;

async function readManifest(dir: string): Promise<AnyManifest | undefined> {
  try {
    const m = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as AnyManifest;
    return m?.qrunDeliverables === 1 ? m : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Throws OUT_DIR_NOT_OURS (exit 2) when `dir` holds anything qrun did not deliver: a run replaces
 * the whole folder, and `--out .` must not delete the user's files. Ours: missing, empty, or with
 * our manifest.json; a matrix's folder may also hold variant folders and stages of ours.
 */
async function assertOurs(dir: string, container: boolean): Promise<void> {
  const st = await lstat(dir).catch(() => undefined);
  if (!st) return;
  if (!st.isDirectory()) throw errors.outDirNotOurs(dir, st.isSymbolicLink() ? 'a symbolic link in its place' : 'a file in its place');
  if (await readManifest(dir)) return;
  const foreign: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (container && entry.name.startsWith('.') && /\.(tmp|old)-|\.lock$/.test(entry.name)) continue;
    if (container && entry.isDirectory() && (await readManifest(join(dir, entry.name)))) continue;
    foreign.push(entry.isDirectory() ? `${entry.name}/` : entry.name);
  }
  if (foreign.length) throw errors.outDirNotOurs(dir, `${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ` and ${foreign.length - 3} more` : ''}`);
}

/** Checked before anything runs, so a folder qrun may not replace fails the command at once. */
export async function checkDeliverablesTarget(recipe: Recipe, options: DeliverablesOptions = {}): Promise<void> {
  const target = deliverablesTarget(recipe, options);
  if (target.container) await assertOurs(target.container, true);
  await assertOurs(target.dir, false);
}

/**
 * The user's machine refused a write (full disk, permissions): a QrunError naming the file by where
 * it was going (`stage` → `dir`: the stage is gone by the time the user reads it); a bug stays a bug.
 */
function asDeliveryError(e: unknown, path: string, where?: { stage: string; dir: string }): QrunError | undefined {
  if (e instanceof QrunError) return e;
  const named = (p: string) => (where && (p === where.stage || p.startsWith(where.stage + sep)) ? where.dir + p.slice(where.stage.length) : p);
  path = named(path);
  if (isDiskFull(e)) return errors.diskFull('the deliverables', named((e as { dest?: string }).dest ?? path), e.code!, { cause: e });
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && code.startsWith('E')) return errors.deliverablesUnwritable(path, (e as Error).message);
  return undefined;
}

/** Copies (copy-on-write where supported) or hard-links one file; returns whether it was linked. */
async function placeFile(from: string, to: string, mode: OutMode): Promise<boolean> {
  await mkdir(dirname(to), { recursive: true });
  // A symbolic link in the cache is followed and its content copied: a hard link would be to the
  // link itself, which can point anywhere (a user's model folder).
  if (mode === 'link' && (await lstat(from)).isFile()) {
    try {
      await link(from, to);
      return true;
    } catch (e) {
      // Another file system (EXDEV), or one without hard links (EPERM, ENOTSUP), or too many links.
      if (!['EXDEV', 'EPERM', 'ENOTSUP', 'EMLINK'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
    }
  }
  // A model qrun just wrote is not read back to check the copy: its digest is known (src/util/hash.ts).
  await copyRemembering(from, to, () => copyFile(from, to, constants.COPYFILE_FICLONE));
  // On disk before the folder is renamed into place: after a crash the new folder is whole or absent.
  const fh = await open(to, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  return false;
}

/** A file or a folder (links followed), placed at `to`; returns the files linked rather than copied. */
async function placeTree(from: string, to: string, mode: OutMode, onFile: (to: string) => void): Promise<Set<string>> {
  const linked = new Set<string>();
  const walk = async (src: string, dst: string) => {
    onFile(dst);
    if ((await stat(src)).isDirectory()) {
      await mkdir(dst, { recursive: true });
      for (const name of (await readdir(src)).sort()) await walk(join(src, name), join(dst, name));
    } else if (await placeFile(src, dst, mode)) linked.add(dst);
  };
  await walk(from, to);
  return linked;
}

/** Why a deliverable is not there: the step was skipped, or did not write an optional output. */
function whyMissing(ref: DeliverableRef, record: StepRecord | undefined): string {
  if (record?.status === 'skipped') return `step "${ref.step}" was skipped: ${record.skipped?.reason ?? 'no reason given'}`;
  return `step "${ref.step}" did not write it (an optional output)`;
}

/** One deliverable as the report lists it: `to` inside the folder ('/'-terminated for a folder). */
type Item = DeliverablesSection['files'][number];

/**
 * Places each deliverable, and each model's external data beside it, in `stage`; checks that what
 * arrived is what the cache verified; lists every file (manifest), every deliverable (report) and
 * what the run did not produce. `onFile` follows the file being written, for a disk-full error.
 */
async function stageFiles(refs: DeliverableRef[], records: StepRecord[], stage: string, mode: OutMode, onFile: (to: string) => void) {
  const files: ManifestFile[] = [];
  const items: Item[] = [];
  const missing: DeliverablesManifest['missing'] = [];
  const used = new Set(refs.map((r) => r.to));
  const inStage = (abs: string) => relative(stage, abs).split(sep).join('/');
  // Every file placed at `at` (a folder: each file in it) joins the manifest with its own digest.
  const place = async (from: string, at: string, entry: Omit<ManifestFile, 'sha256' | 'size' | 'path'>) => {
    const linked = await placeTree(from, at, mode, onFile);
    const d = await digestPath(at);
    const each = d.files ? Object.entries(d.files).map(([rel, sha256]) => [join(at, rel), sha256] as const) : [[at, d.sha256] as const];
    for (const [abs, sha256] of each) files.push({ path: inStage(abs), sha256, size: (await stat(abs)).size, ...entry, ...(linked.has(abs) ? { hardLink: true as const } : {}) });
    const to = inStage(at);
    items.push({ path: d.files ? `${to}/` : to, from: entry.externalDataOf ? `${entry.from} (external data)` : entry.from, size: d.size, ...(d.files ? { files: Object.keys(d.files).length } : { sha256: d.sha256 }) });
    return d;
  };
  for (const ref of refs) {
    const from = `${ref.step}.${ref.output}`;
    const record = records.find((r) => r.id === ref.step);
    const output = record?.outputs[ref.output];
    if (!record || !output) {
      missing.push({ from, reason: whyMissing(ref, record) });
      continue;
    }
    const staged = join(stage, ...ref.to.split('/'));
    const d = await place(output.path, staged, { from, key: record.key });
    // What was copied is what the cache verified (an edit through a hard link, a concurrent gc).
    const model = MODEL_KINDS.includes(ref.kind) && !d.files;
    if (!model && d.sha256 !== output.sha256) throw errors.deliverableMismatch(from, output.path);
    if (!model) continue;
    const data = await externalData(output.path, record);
    for (const location of data) {
      const to = posix.join(posix.dirname(ref.to), location.split(sep).join('/'));
      if (used.has(to)) throw errors.deliverablesUnwritable(join(stage, to), `the external data of ${from} and another deliverable have the same name`);
      used.add(to);
      await place(join(dirname(output.path), location), join(stage, ...to.split('/')), { from, key: record.key, externalDataOf: ref.to });
    }
    // A model's digest covers the external data files it names (src/cache/artifact-digest.ts).
    const copied = data.length ? (await digestModelFile(staged)).sha256 : d.sha256;
    if (copied !== output.sha256) throw errors.deliverableMismatch(from, output.path);
  }
  return { files, items, missing };
}

type State =
  | { kind: 'staged'; lock: HeldLock; stage: string; manifest: DeliverablesManifest; items: Item[] }
  | { kind: 'skipped'; reason: string }
  | { kind: 'failed'; error: QrunError }
  | { kind: 'done'; manifest: DeliverablesManifest; items: Item[] };

/**
 * One run's delivery: prepared (staged, under the folder's lock) while the run still holds its cache
 * entries, committed (reports copied in, manifest written, folder swapped) after the reports are
 * written. `section` is report.json's `deliverables`; `line()` the run's last line about them.
 */
export class Delivery {
  private constructor(
    readonly target: DeliverablesTarget,
    private readonly recipe: Recipe,
    private readonly previous: AnyManifest | undefined,
    private state: State,
  ) {}

  /** `onWait`: told when another run holds the folder's lock (it is delivering there now). */
  static async prepare(args: { recipe: Recipe; steps: ResolvedStep[]; records: StepRecord[]; report: Report; options?: DeliverablesOptions; onWait?: (line: string) => void }): Promise<Delivery> {
    const { recipe, records, report } = args;
    const target = deliverablesTarget(recipe, args.options);
    const previous = await readManifest(target.dir);
    const status = report.run.status;
    const notRun = records.filter((r) => r.status === 'not-run').map((r) => r.id);
    const skip = (reason: string) => {
      const delivery = new Delivery(target, recipe, previous, { kind: 'skipped', reason });
      report.deliverables = delivery.section;
      return delivery;
    };
    if (status === 'failed') return skip('the run failed');
    if (status === 'interrupted') return skip('the run was interrupted');
    // --until stops early; --only leaves out the steps it neither runs nor finds in the cache.
    if (notRun.length) return skip(`this run left out ${notRun.join(', ')} (--until/--only); a complete run replaces them`);

    const { refs } = selectDeliverables(recipe, args.steps);
    let current = target.dir;
    let lock: HeldLock | undefined;
    let stage: string | undefined;
    try {
      await mkdir(dirname(target.dir), { recursive: true });
      const lockFile = lockFileOf(target.dir);
      lock = await acquireLock(lockFile, (holder) => args.onWait?.(`waiting for ${lockFile} held by ${describeHolder(holder)}`));
      // Under the lock nobody else is staging here: whatever stage or old folder is left was a killed run's.
      for (const name of await readdir(dirname(target.dir))) if (isOurTemp(target.dir, name)) await rm(join(dirname(target.dir), name), { recursive: true, force: true });
      stage = join(dirname(target.dir), `.${basename(target.dir)}.tmp-${report.run.id}`);
      await mkdir(stage);
      const { files, items, missing } = await stageFiles(refs, records, stage, target.mode, (to) => (current = to));
      const manifest: DeliverablesManifest = {
        qrunDeliverables: 1,
        recipe: { name: recipe.name, file: relative(target.dir, recipe.file).split(sep).join('/'), ...(recipe.variant ? { variant: recipe.variant.label } : {}) },
        run: { id: report.run.id, status, finishedAt: report.run.finishedAt },
        mode: target.mode,
        files,
        missing,
      };
      const delivery = new Delivery(target, recipe, previous, { kind: 'staged', lock, stage, manifest, items });
      report.deliverables = delivery.section;
      return delivery;
    } catch (e) {
      const error = asDeliveryError(e, current, stage ? { stage, dir: target.dir } : undefined);
      if (stage) await rm(stage, { recursive: true, force: true }).catch(() => undefined);
      await lock?.release().catch(() => undefined);
      if (!error) throw e;
      const delivery = new Delivery(target, recipe, previous, { kind: 'failed', error });
      report.deliverables = delivery.section;
      return delivery;
    }
  }

  /** report.json's `deliverables`: paths relative to the recipe's folder. */
  get section(): DeliverablesSection {
    const s = this.state;
    const fromRecipe = (p: string) => relative(this.recipe.dir, p).split(sep).join('/') || '.';
    const dir = fromRecipe(this.target.dir);
    if (s.kind === 'staged' || s.kind === 'done') {
      const m = s.manifest;
      return {
        dir,
        updated: true,
        fromRun: { id: m.run.id, status: m.run.status },
        mode: m.mode,
        files: [...s.items, ...REPORT_FILES.map((f) => ({ path: f, from: 'report' }))].map((i) => ({ ...i, path: fromRecipe(join(this.target.dir, i.path)) + (i.path.endsWith('/') ? '/' : '') })),
        missing: m.missing,
      };
    }
    const prev = this.previous?.run;
    return { dir, updated: false, reason: s.kind === 'failed' ? s.error.message : s.reason, ...(prev ? { fromRun: { id: prev.id, status: prev.status } } : {}), files: [], missing: [] };
  }

  /**
   * Copies the run's reports in (those the disk took), writes manifest.json and swaps the folder in.
   * Throws what staging or this refused (DISK_FULL naming the file), the previous folder intact.
   */
  async commit(runDir: string): Promise<void> {
    const s = this.state;
    if (s.kind === 'failed') throw s.error;
    if (s.kind !== 'staged') return;
    const { dir } = this.target;
    let current = s.stage;
    try {
      for (const name of REPORT_FILES) {
        const from = join(runDir, name);
        // Absent: the disk refused it (that error is reported with the run's). Not a regular file
        // (a test's link to /dev/full): nothing to copy.
        if (!(await stat(from).catch(() => undefined))?.isFile()) continue;
        current = join(s.stage, name);
        await placeFile(from, current, 'copy');
        const d = await digestPath(current);
        s.manifest.files.push({ path: name, sha256: d.sha256, size: d.size, from: 'report' });
      }
      current = join(s.stage, MANIFEST_FILE);
      await writeFile(current, JSON.stringify(s.manifest, null, 2) + '\n');
      // Checked again under the lock: the folder may have changed since the run started.
      await assertOurs(dir, false);
      current = dir;
      const aside = join(dirname(dir), `.${basename(dir)}.old-${s.manifest.run.id}`);
      const moved = await rename(dir, aside).then(
        () => true,
        (e: NodeJS.ErrnoException) => {
          if (e.code === 'ENOENT') return false;
          throw e;
        },
      );
      try {
        await rename(s.stage, dir);
      } catch (e) {
        if (moved) await rename(aside, dir).catch(() => undefined);
        throw e;
      }
      // Swapped: the delivery is done whatever happens to the old folder (the next run removes it).
      this.state = { kind: 'done', manifest: s.manifest, items: s.items };
      await rm(aside, { recursive: true, force: true }).catch(() => undefined);
    } catch (e) {
      const error = asDeliveryError(e, current, { stage: s.stage, dir });
      await rm(s.stage, { recursive: true, force: true }).catch(() => undefined);
      if (!error) throw e;
      this.state = { kind: 'failed', error };
      throw error;
    } finally {
      await s.lock.release().catch(() => undefined);
    }
  }

  /** What the run prints about its deliverables: where they are, or why they were not updated. */
  line(): string {
    const s = this.state;
    const where = fromCwd(this.target.dir);
    if (s.kind === 'done' || s.kind === 'staged') {
      const m = s.manifest;
      const reports = s.kind === 'done' ? m.files.filter((f) => f.from === 'report').map((f) => f.path) : [...REPORT_FILES];
      const listed = [...s.items.map((i) => i.path), reports.length === REPORT_FILES.length ? 'report.json/.md/.html' : reports.join(', '), MANIFEST_FILE].filter(Boolean).join(', ');
      const verdict =
        m.run.status === 'gates-failed'
          ? ' — from a run whose gates FAILED: for debugging, not for shipping'
          : m.run.status === 'regressed'
            ? ' — from a run that REGRESSED against its baseline: for debugging, not for shipping'
            : '';
      // The skip's reason and fix are on the lines above: here only that it is missing.
      const missing = m.missing.length ? `; not delivered: ${m.missing.map((x) => `${x.from} (${/was skipped/.test(x.reason) ? 'step skipped' : 'not written'})`).join(', ')}` : '';
      return `deliverables: ${where} (${listed})${verdict}${missing}`;
    }
    const why = s.kind === 'failed' ? `${s.error.code}, see below` : s.reason;
    const prev = this.previous?.run;
    return prev ? `deliverables in ${where} are from run ${prev.id} (${prev.status}), not updated: ${why}` : `deliverables: none in ${where}, not written: ${why}`;
  }
}

/** The external data files of the model at `modelPath` (names relative to its folder). */
async function externalData(modelPath: string, record: StepRecord): Promise<string[]> {
  // Only a file beside the model that is no output of its own can hold its data: without one, the
  // model (up to 2 GiB) need not be decoded to know it has none.
  const folder = dirname(modelPath);
  const declared = new Set(Object.values(record.outputs).map((o) => o.path));
  const others = (await readdir(folder)).filter((n) => !declared.has(join(folder, n)));
  return others.length ? externalDataLocations(modelPath) : [];
}

/**
 * After a matrix: its report (matrix.md, matrix.json) and manifest.json in the matrix's folder,
 * beside one folder per variant; variant folders of variants the matrix no longer has, and files an
 * earlier run left at the top, are removed. Returns the line to print.
 */
export async function finishMatrixDeliverables(recipes: Recipe[], options: DeliverablesOptions, matrixReportDir: string): Promise<string> {
  const base = deliverablesTarget(recipes[0]!, options).container!;
  let current = base;
  try {
    await mkdir(base, { recursive: true });
    const lock = await acquireLock(lockFileOf(base));
    try {
      const previous = await readManifest(base);
      const folders = recipes.map((r) => variantFolderName(r.variant!.label));
      const files: ManifestFile[] = [];
      for (const name of ['matrix.md', 'matrix.json']) {
        const from = join(matrixReportDir, name);
        if (!existsSync(from)) continue;
        current = join(base, name);
        const bytes = await readFile(from);
        await writeFileAtomic(current, bytes, 'the matrix report');
        files.push({ path: name, sha256: (await digestPath(current)).sha256, size: bytes.byteLength, from: 'matrix report' });
      }
      const keep = new Set([...folders, ...files.map((f) => f.path), MANIFEST_FILE]);
      for (const entry of await readdir(base, { withFileTypes: true })) {
        if (keep.has(entry.name) || entry.name.startsWith('.')) continue;
        // A variant the matrix no longer has (a folder with our manifest), or what the previous
        // delivery here listed (a single run's model.onnx, triton/); nothing else is touched.
        const variantOfOurs = entry.isDirectory() && Boolean(await readManifest(join(base, entry.name)));
        const listedBefore = previous?.files?.some((f) => f.path.split('/')[0] === entry.name);
        if (variantOfOurs || listedBefore) await rm(join(base, entry.name), { recursive: true, force: true });
      }
      const variants = await Promise.all(
        recipes.map(async (r, i) => {
          const m = await readManifest(join(base, folders[i]!));
          return { folder: folders[i]!, label: r.variant!.label, ...(m?.run ? { run: { id: m.run.id, status: m.run.status } } : {}) };
        }),
      );
      const manifest: MatrixManifest = { qrunDeliverables: 1, matrix: { recipe: recipes[0]!.name, variants }, files };
      current = join(base, MANIFEST_FILE);
      await writeFileAtomic(current, JSON.stringify(manifest, null, 2) + '\n', 'the deliverables manifest');
      return `deliverables: ${fromCwd(base)} (one folder per variant: ${folders.map((f) => `${f}/`).join(', ')}; ${files.map((f) => f.path).join(', ')}, ${MANIFEST_FILE})`;
    } finally {
      await lock.release().catch(() => undefined);
    }
  } catch (e) {
    throw asDeliveryError(e, current) ?? e;
  }
}
