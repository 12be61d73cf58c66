// Every user-facing failure is a QrunError made by a named factory below: a stable code, a message,
// where it applies (file:line:col when there is one) and a hint the user can act on.
// Only src/cli.ts turns these into output and exit codes.

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

export class QrunError extends Error {
  readonly diagnostics: Diagnostic[];
  readonly exitCode: number;

  constructor(diagnostics: Diagnostic[], exitCode: number = EXIT.stepFailed, options?: { cause?: unknown }) {
    super(diagnostics.map((d) => d.message).join('\n'), options);
    this.name = 'QrunError';
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
  usage: (message: string, hint?: string) => make('USAGE', message, hint ?? 'run `qrun --help`', undefined, EXIT.usage),
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
  toolMissing: (tool: string, fix: string) => make('TOOL_MISSING', `${tool} not found`, fix),
  stepFailed: (stepId: string, plugin: string, done: string[], cause: unknown) => {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const inner = cause instanceof QrunError ? cause.diagnostics[0] : undefined;
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
  gateFailed: (lines: string[]) =>
    new QrunError(lines.map((message) => ({ code: 'GATE_FAILED', message })), EXIT.gateFailed),
};
