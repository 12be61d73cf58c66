// Every user-facing failure is a QrunError made by a named factory below: a stable code, a message,
// where it applies (file:line:col when there is one) and a hint the user can act on.
// Only src/cli.ts turns these into output and exit codes.
import { constants as osConstants } from 'node:os';
import { dirname } from 'node:path';

export interface SourceLocation {
  file: string;
  line?: number;
  col?: number;
}

export interface Diagnostic {
  code: string;
  message: string;
  location?: SourceLocation;
  hint?: string;
}

/** Exit codes: 1 = a step failed, 2 = the recipe or the command line is wrong, 3 = a gate failed. */
export const EXIT = { ok: 0, stepFailed: 1, usage: 2, gateFailed: 3, internal: 70 } as const;

/** Every exit code with what it means, as `qrun help` and docs/recipe-reference.md list them. */
export const EXIT_CODES: [code: string, meaning: string][] = [
  ['0', 'passed: every step finished or was skipped as optional, and every gate holds'],
  ['1', 'a step failed (or qrun could not write its journal or reports: DISK_FULL); `qrun cache verify` found damage'],
  ['2', 'a bad recipe or command line (unknown command or option, missing file, invalid option value)'],
  ['3', 'a gate failed, or a regression against --baseline (`qrun compare`: against the first report)'],
  ['70', 'an internal error: a bug in qrun (it prints what to report)'],
  ['130', 'interrupted by SIGINT (Ctrl-C)'],
  ['143', 'stopped by SIGTERM (docker stop, Kubernetes, timeout)'],
];

/** The shell's convention for a process stopped by a signal: 128 + its number (SIGINT 130, SIGTERM 143). */
export function exitCodeOfSignal(signal: NodeJS.Signals): number {
  return 128 + (osConstants.signals[signal] ?? 0);
}

// Errno codes of a file system that cannot take a write: full, over quota, read-only.
const DISK_FULL_WHY: Record<string, string> = { ENOSPC: 'no space left on the device', EDQUOT: 'the disk quota is exceeded', EROFS: 'the file system is read-only' };

/** Marks a QrunError whichever copy of this module made it (see hasInstance). */
const QRUN_ERROR = Symbol.for('qrun.QrunError');

export class QrunError extends Error {
  readonly diagnostics: Diagnostic[];
  readonly exitCode: number;

  // qrun runs from a bundle of its sources (bin/build-ahead.js), while an external plugin that
  // imports src/errors.ts loads that file itself: two classes. A plugin's QrunError still carries
  // its code and hint to the user, so `instanceof` checks the mark, not the class.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[QRUN_ERROR] === true;
  }

  constructor(diagnostics: Diagnostic[], exitCode: number = EXIT.stepFailed, options?: { cause?: unknown }) {
    super(diagnostics.map((d) => d.message).join('\n'), options);
    this.name = 'QrunError';
    Object.defineProperty(this, QRUN_ERROR, { value: true });
    this.diagnostics = diagnostics;
    this.exitCode = exitCode;
  }

  get code(): string {
    return this.diagnostics[0]?.code ?? 'QRUN_ERROR';
  }
}

export function formatLocation(loc: SourceLocation | undefined): string {
  if (!loc) return '';
  if (loc.line === undefined) return loc.file;
  return `${loc.file}:${loc.line}:${loc.col ?? 1}`;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = formatLocation(d.location);
  const head = `${where ? `${where}: ` : ''}error ${d.code}: ${d.message}`;
  return d.hint ? `${head}\n  hint: ${d.hint}` : head;
}

const make = (code: string, message: string, hint?: string, location?: SourceLocation, exitCode: number = EXIT.stepFailed) =>
  new QrunError([{ code, message, hint, location }], exitCode);

export const errors = {
  recipeNotFound: (file: string) =>
    make('RECIPE_NOT_FOUND', `recipe file not found: ${file}`, 'check the path; recipes usually live in recipes/*.yaml', undefined, EXIT.usage),
  recipeInvalid: (diagnostics: Diagnostic[]) => new QrunError(diagnostics, EXIT.usage),
  /** A step `--only` consumes is not in the cache: --only runs one step on cached inputs. */
  notCachedForOnly: (stepId: string, location?: SourceLocation) =>
    make('NOT_CACHED', `step "${stepId}" is not in the cache, and --only runs one step on cached inputs`, `run the recipe once without --only (or with --until ${stepId})`, location),
  usage: (message: string, hint?: string) => make('USAGE', message, hint ?? 'run `qrun --help`', undefined, EXIT.usage),
  /** A report.json named on the command line (compare, --baseline) is not there: a usage error, found before anything runs. */
  reportNotFound: (what: string, file: string) =>
    make('FILE_NOT_FOUND', `${what} not found: ${file}`, 'pass the report.json of an earlier run: .qrun/runs/<id>/report.json', undefined, EXIT.usage),
  fileNotFound: (what: string, file: string, location?: SourceLocation) =>
    make('FILE_NOT_FOUND', `${what} not found: ${file}`, 'check the path in the recipe (relative paths resolve from the recipe file)', location),
  modelDirInvalid: (dir: string, missing: string, location?: SourceLocation) =>
    make('MODEL_INVALID', `${dir} is not a Hugging Face model directory: ${missing}`, 'a model directory holds config.json, a tokenizer (tokenizer.json) and weights (onnx/model.onnx or model.onnx)', location),
  onnxCorrupt: (file: string, reason: string) =>
    make('ONNX_CORRUPT', `cannot read ONNX model ${file}: ${reason}`, 're-export the model; a truncated download or a Git LFS pointer file looks like this'),
  dataInvalid: (file: string, line: number, reason: string) =>
    make('DATA_INVALID', `${reason}`, 'each line is a JSON object like {"text": "...", "label": "..."}', { file, line, col: 1 }),
  dataEmpty: (file: string, location?: SourceLocation) =>
    make('DATA_EMPTY', `data set ${file} has no samples`, 'calibration needs at least one sample; 128–512 is typical', location),
  labelsMismatch: (message: string, hint: string, location?: SourceLocation) => make('LABELS_MISMATCH', message, hint, location),
  logitsOutputUnclear: (message: string, hint: string) => make('LOGITS_OUTPUT_UNCLEAR', message, hint),
  toolMissing: (tool: string, fix: string) => make('TOOL_MISSING', `${tool} not found`, fix),
  stepFailed: (stepId: string, plugin: string, done: string[], cause: unknown) => {
    const reason = cause instanceof Error ? cause.message : String(cause);
    // A plugin that ran out of disk writing its outputs gets the disk-full code and fix, not STEP_FAILED.
    const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
    const inner =
      cause instanceof QrunError
        ? cause.diagnostics[0]
        : errno && errno in DISK_FULL_WHY
          ? errors.diskFull('the step\'s output', (cause as NodeJS.ErrnoException).path, errno).diagnostics[0]
          : undefined;
    return new QrunError(
      [
        {
          code: inner?.code ?? 'STEP_FAILED',
          message: `step "${stepId}" (${plugin}) failed: ${reason}`,
          location: inner?.location,
          hint:
            (inner?.hint ? `${inner.hint}; ` : '') +
            (done.length ? `steps already done and kept in the cache: ${done.join(', ')}` : 'no step had finished'),
        },
      ],
      EXIT.stepFailed,
      { cause },
    );
  },
  outputMissing: (stepId: string, plugin: string, output: string, path: string) =>
    make('OUTPUT_MISSING', `step "${stepId}" (${plugin}) declared output "${output}" but did not write ${path}`, 'this is a bug in the plugin: it must write every output it declares'),
  cacheUnwritable: (dir: string, reason: string) =>
    make('CACHE_UNWRITABLE', `cannot write the cache directory ${dir}: ${reason}`, 'pass --cache DIR or set QRUN_CACHE to a writable folder'),
  linkDangling: (link: string, target: string) =>
    make('LINK_DANGLING', `${link} is a symbolic link to ${target}, which does not exist`, 'a Hugging Face, DVC or git-annex checkout whose content was not fetched looks like this: fetch it (huggingface-cli download, dvc pull, git annex get) or remove the link'),
  linkCycle: (link: string, target: string) =>
    make('LINK_CYCLE', `${link} is a symbolic link to ${target}, which leads back to itself (a cycle of links)`, 'point the link at a file, or at a folder that does not hold the link'),
  commandFilesUnmatched: (pattern: string, dir: string, location?: SourceLocation) =>
    make('COMMAND_FILES', `files: pattern "${pattern}" matches no file in ${dir}`, 'patterns are globs relative to the recipe folder (e.g. tools/**/*.py); fix the pattern or remove it', location),
  /**
   * A write failed because its file system is full (ENOSPC), over quota (EDQUOT) or read-only (EROFS).
   * `what` names the file for the user ("the run report"). Made by src/util/disk-full.ts.
   */
  diskFull: (what: string, path: string | undefined, errno: string, options?: { cause?: unknown }) =>
    new QrunError(
      [
        {
          code: errno === 'EROFS' ? 'READ_ONLY_FS' : 'DISK_FULL',
          message: `cannot write ${what}${path ? ` ${path}` : ''}: ${DISK_FULL_WHY[errno] ?? errno} (${errno})`,
          hint:
            `${errno === 'EROFS' ? 'remount it writable' : `free space there (${path ? `\`df -h ${dirname(path)}\`` : '`df -h` on the cache folder'} shows how much is left)`}, ` +
            'or write elsewhere: --cache DIR (or QRUN_CACHE) moves the cache and the run folders, --junit FILE the JUnit XML, --out DIR the deliverables',
        },
      ],
      EXIT.stepFailed,
      options,
    ),
  /** Plugin code called process.exit while its step ran (src/engine/plugin-exit-guard.ts). */
  pluginExited: (exitCode: string, calledAt?: SourceLocation) =>
    make(
      'PLUGIN_EXITED',
      `called process.exit(${exitCode}); plugins must return or throw`,
      'process.exit would end qrun itself, before the gates are checked and the report is written: throw an Error instead (or return { skipped } when the step cannot run here)',
      calledAt,
    ),
  /** The run was stopped by SIGINT or SIGTERM; steps were stopped and cleaned up, the report written. */
  interrupted: (signal: NodeJS.Signals, report: string) =>
    make('INTERRUPTED', `interrupted by ${signal}; finished steps are cached and the next run starts at the first unfinished one`, `report: ${report}`, undefined, exitCodeOfSignal(signal)),
  /** The process is exiting before the run finished (cli.ts's backstop: an exit nothing else caught). */
  exitedEarly: (exitCode: string) =>
    make(
      'EXITED_EARLY',
      `qrun is exiting with code ${exitCode} before the command finished: gates were not checked and no report was written`,
      'something in the qrun process called process.exit (a plugin, when its module loaded, in fingerprint() or in a callback: plugins must return or throw instead), or left qrun waiting on a promise that can never settle; the exit code is 1',
    ),
  gateFailed: (lines: string[]) =>
    new QrunError(lines.map((message) => ({ code: 'GATE_FAILED', message })), EXIT.gateFailed),
  /** A baseline that did not pass has no complete metrics to compare against: every check would pass vacuously. */
  baselineNotPassed: (file: string, status: string) =>
    make(
      'BASELINE_NOT_PASSED',
      `the baseline ${file} is a run that did not pass (${status}): there is nothing complete to compare against`,
      'compare against the report.json of a run that passed (runs/<id>/report.json of a run whose status is passed)',
      { file },
      EXIT.usage,
    ),
  lockTimeout: (file: string, holder: string, seconds: number) =>
    make(
      'LOCK_TIMEOUT',
      `gave up after ${seconds} s waiting for the lock ${file}, held by ${holder}`,
      `if that process is still working, wait for it or raise QRUN_LOCK_TIMEOUT (seconds); if it is gone or hung, remove the lock with \`rm -r '${file}'\` (qrun takes a lock over by itself once its holder's heartbeat has stopped for QRUN_LOCK_STALE seconds, 60 by default)`,
    ),
  lockLost: (file: string, reason: string) =>
    make(
      'LOCK_LOST',
      `lost the lock ${file} (${reason}): another process took it over because this one's heartbeat stopped for longer than QRUN_LOCK_STALE seconds (the machine slept, the process was stopped, or the event loop was blocked)`,
      'run again; on a slow or network file system raise QRUN_LOCK_STALE (seconds, 60 by default)',
    ),
  cacheReadFailed: (file: string, reason: string) =>
    make(
      'CACHE_READ_FAILED',
      `cannot read ${file}: ${reason}`,
      'the cache entry was left as it is (a read error is not damage): check permissions, free file handles (ulimit -n) and the disk, then run again',
    ),
  // Remote cache (src/cache/remote-cache.ts) and job queue (src/queue/): docs/distributed.md.
  remoteCacheUrlInvalid: (url: string, where: string) =>
    make('REMOTE_CACHE_URL', `${where}: "${url}" is not a remote cache address`, 'write it as s3://BUCKET or s3://BUCKET/PREFIX (any S3-compatible store; the endpoint comes from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL)', undefined, EXIT.usage),
  remoteCacheUnreachable: (url: string, endpoint: string, reason: string) =>
    make(
      'REMOTE_CACHE_UNREACHABLE',
      `the remote cache ${url} (endpoint ${endpoint}) cannot be used: ${reason}`,
      'check the endpoint (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for MinIO, R2, Ceph), the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and that the bucket exists; `aws s3 ls s3://BUCKET --endpoint-url URL` tries the same',
    ),
  remoteCacheModeInvalid: (mode: string) => make('USAGE', `--remote-cache-mode must be read, write or readwrite, got ${mode}`, 'read: take entries only (pull requests); write: upload only; readwrite (default): both', undefined, EXIT.usage),
  queueUrlInvalid: (url: string) => make('QUEUE_URL', `"${url}" is not a Redis address`, 'write it as redis://HOST:PORT (redis://HOST:PORT/DB for another database, rediss:// for TLS)', undefined, EXIT.usage),
  queueUnreachable: (url: string, reason: string) =>
    make('QUEUE_UNREACHABLE', `the job queue's Redis ${url} cannot be reached: ${reason}`, 'check that redis-server runs there and listens on that address (`redis-cli -u URL ping` says PONG), and that no firewall is in between'),
  queueNeedsRemoteCache: () =>
    make('QUEUE_NEEDS_REMOTE_CACHE', '--queue needs a remote cache: workers hand artifacts to each other and back to this machine through it', 'add --remote-cache s3://BUCKET/PREFIX (or set QRUN_REMOTE_CACHE, or `remoteCache:` in the recipe), the same store the workers can reach', undefined, EXIT.usage),
  queueRecipeChanged: (file: string) =>
    make('QUEUE_RECIPE_CHANGED', `the worker's copy of ${file} is not the recipe that was submitted (another hash, or the variant is gone)`, 'workers read the recipe and its files at the same paths as the machine that submitted it: give them the same checkout (a shared folder, or the same commit checked out at the same path)'),
  queueOptionConflict: (option: string) =>
    make('USAGE', `${option} cannot be combined with --queue`, 'a queued run builds every step of the recipe that is not cached; select steps in a local run', undefined, EXIT.usage),
  queueJobFailed: (what: string, worker: string, reason: string) =>
    make('QUEUE_JOB_FAILED', `${what} failed on worker ${worker}: ${reason}`, 'the worker\'s own output has the whole error; steps that finished are in the remote cache, and submitting again resumes from them'),
  /** The submitter's Redis went away mid-run and did not answer again within QRUN_QUEUE_DOWN_MS. */
  queueConnectionLost: (url: string, seconds: number, reason: string) =>
    make(
      'QUEUE_CONNECTION_LOST',
      `lost the job queue's Redis ${url}: no answer for ${seconds} s (${reason})`,
      'the workers go on once it is back, and steps they finish land in the remote cache: submit again then (finished steps are remote hits); wait longer with QRUN_QUEUE_DOWN_MS',
    ),
  /** Redis answers again but no longer holds the run's jobs (restarted without persistence, flushed). */
  queueJobsLost: (url: string, what: string) =>
    make(
      'QUEUE_JOBS_LOST',
      `the job queue's Redis ${url} no longer holds the job of ${what}: it was restarted without its data, or flushed`,
      'submit again (steps already built are remote hits); keep the Redis\'s data across restarts (appendonly yes) so a restart does not lose queued jobs',
    ),
  /** The deliverables folder (out/<name>/, --out, `out:`) holds files qrun did not put there: replacing it would delete them. */
  outDirNotOurs: (dir: string, found: string) =>
    make(
      'OUT_DIR_NOT_OURS',
      `the deliverables folder ${dir} holds ${found}, which qrun did not put there; a run replaces the whole folder, so it will not use this one`,
      'choose another folder with --out DIR or `out:` in the recipe, or empty this one (qrun recognises its own folders by their manifest.json)',
      undefined,
      EXIT.usage,
    ),
  /** A deliverable could not be written (other than a full disk, which is DISK_FULL). */
  deliverablesUnwritable: (path: string, reason: string) =>
    make('DELIVERABLES_UNWRITABLE', `cannot write the deliverables at ${path}: ${reason}`, 'the previous deliverables were left as they were; check the folder\'s permissions, or choose another with --out DIR'),
  /** A file copied out of the cache is not what the cache recorded: the entry changed after it was verified. */
  deliverableMismatch: (from: string, path: string) =>
    make(
      'DELIVERABLE_MISMATCH',
      `the copy of ${from} (${path}) does not match the sha256 the cache recorded for it: the cache entry changed while it was copied`,
      'run again (the cache re-verifies the entry and rebuilds it if it was damaged); with --out-mode link, a deliverable edited in place edits the cache entry it is linked to',
    ),
  excludeMatchesNothing: (pattern: string, closest: string[]) =>
    make(
      'EXCLUDE_NO_MATCH',
      `exclude pattern ${JSON.stringify(pattern)} matches no node of the model, so nothing it was meant to keep in float is kept${closest.length ? `; the closest node names: ${closest.join(', ')}` : ''}`,
      'patterns are regular expressions tested against node names (a part of the name is enough); `qrun inspect <model>` lists every quantizable node with its name',
    ),
  notACache: (root: string, found: string) =>
    make(
      'NOT_A_QRUN_CACHE',
      `${root} is not a qrun cache (${found}), so \`qrun cache gc\` will not delete anything in it`,
      'pass the folder a recipe run made (.qrun beside the recipe, --cache DIR or $QRUN_CACHE): every run marks it with cache/CACHEDIR.TAG, so running a recipe with --cache DIR marks an older qrun cache that gc does not recognise',
      undefined,
      EXIT.usage,
    ),
  // ONNX external data (https://github.com/onnx/onnx/blob/main/docs/ExternalData.md): a tensor's bytes
  // live in the file its `location` names, relative to the model's folder, at `offset` for `length`.
  /** The file a tensor's external data names is not there. */
  externalDataMissing: (model: string, tensor: string, location: string, path: string) =>
    make(
      'EXTERNAL_DATA_MISSING',
      `${model}: tensor "${tensor}" has its data in "${location}", which does not exist (${path})`,
      'an ONNX model with external data is its .onnx file and the data files it names, in the same folder (exporters write model.onnx_data or model.onnx.data beside model.onnx): copy them together; a partial download or a Git LFS pointer checkout lacks them',
    ),
  /** The data file is shorter than the tensor's offset + length. */
  externalDataTruncated: (model: string, tensor: string, location: string, offset: number, length: number, size: number) =>
    make(
      'EXTERNAL_DATA_TRUNCATED',
      `${model}: tensor "${tensor}" needs bytes ${offset}–${offset + length} of "${location}", which has only ${size} bytes`,
      'the data file is truncated or belongs to another export of the model: copy the .onnx file and its data files again, from the same export',
    ),
  /** A location that leaves the model's folder: absolute, `..`, or a symbolic link that resolves outside. */
  externalDataOutside: (model: string, tensor: string, location: string, why: string) =>
    make(
      'EXTERNAL_DATA_OUTSIDE',
      `${model}: tensor "${tensor}" has its data at "${location}", ${why}; qrun reads external data only inside the model's folder (as onnxruntime does)`,
      "put the data file in the model's folder (or below it) and name it by a relative path, e.g. re-save with onnx.save_model(..., save_as_external_data=True, location=\"model.onnx_data\")",
    ),
  /** external_data entries that do not describe a readable span (no location, a bad offset or length). */
  externalDataInvalid: (model: string, tensor: string, reason: string) =>
    make('EXTERNAL_DATA_INVALID', `${model}: tensor "${tensor}" has invalid external data: ${reason}`, 're-export the model; external_data holds `location` (a relative path) and optional `offset` and `length` in bytes'),
};
