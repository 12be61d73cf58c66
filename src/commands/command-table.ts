// Every qrun command with its arguments, its own options and what it does: the one declaration that
// the parser (command-line.ts), `qrun help` (help.ts) and the README's command list follow. Adding an
// option here makes it parsed, scoped to its command and documented in `qrun <command> --help`.
//
// Each command's module is imported when it runs: `qrun --version`, `qrun help` and usage errors
// answer without loading onnxruntime and every plugin (seconds on a busy machine).
import { errors } from '../errors.ts';
import type { CommandSpec, OptionSpec, OptionValues } from './command-line.ts';
import type { Output } from '../engine/output.ts';

const str = (v: OptionValues[string]): string | undefined => (typeof v === 'string' ? v : undefined);
const list = (v: OptionValues[string]): string[] | undefined => (Array.isArray(v) ? v : undefined);

/** A number option: undefined when absent, a usage error (exit 2) when it is not a number in range. */
function numberOption(values: OptionValues, name: string, check: (n: number) => boolean, expected: string): number | undefined {
  const raw = str(values[name]);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !check(n)) throw errors.usage(`--${name} must be ${expected}, got ${raw}`);
  return n;
}

const cacheOption: OptionSpec = { type: 'string', value: 'DIR', help: 'the cache and runs folder (default: .qrun beside the recipe, or $QRUN_CACHE)' };
const stepOptions: Record<string, OptionSpec> = {
  force: { type: 'string', multiple: true, value: 'STEP', help: 'run STEP even if it is cached (repeatable)' },
  from: { type: 'string', value: 'STEP', help: 'run STEP and every later step even if cached' },
  until: { type: 'string', value: 'STEP', help: 'stop after STEP' },
  only: { type: 'string', value: 'STEP', help: 'run STEP alone (the steps before it must be in the cache)' },
};
const remoteCacheOptions: Record<string, OptionSpec> = {
  'remote-cache': { type: 'string', value: 's3://BUCKET/PREFIX', help: 'a shared cache on S3-compatible storage, after the local one (default: $QRUN_REMOTE_CACHE, else the recipe\'s remoteCache:); endpoint and credentials from the AWS environment (AWS_ENDPOINT_URL_S3, AWS_PROFILE, …)' },
  'remote-cache-mode': { type: 'string', value: 'read|write|readwrite', help: 'read: take entries only (pull requests); write: upload only; readwrite (default)' },
};

function remoteCacheModeOf(values: OptionValues): 'read' | 'write' | 'readwrite' | undefined {
  const mode = str(values['remote-cache-mode']);
  if (mode !== undefined && mode !== 'read' && mode !== 'write' && mode !== 'readwrite') throw errors.remoteCacheModeInvalid(mode);
  return mode;
}

const cacheLookup =
  'Without --cache: $QRUN_CACHE, else ./.qrun; when neither exists, the .qrun folders under the current folder ' +
  '(a recipe keeps its cache in .qrun beside it): `ls` and `verify` use the one found and say which, and list them all when there are several.';

export const COMMANDS: CommandSpec<Output>[] = [
  {
    name: 'run',
    summary: 'run the recipe: build what is not cached, write the report, apply the gates',
    usage: ['<recipe.yaml> [options]', 'run <recipe.yaml> [options]'],
    details: [
      '`run` is the default command: `qrun recipe.yaml` is `qrun run recipe.yaml`. A step runs when its cache key ' +
        '(options, inputs, files it reads, tool versions, its code) changed; `qrun plan` says why. The run folder ' +
        '(.qrun/runs/<id>/) holds report.md, report.html, report.json and the journal.',
    ],
    args: [{ name: '<recipe.yaml>' }],
    options: {
      cache: cacheOption,
      ...stepOptions,
      'dry-run': { type: 'boolean', help: 'print the plan (as `qrun plan`) instead of running' },
      plain: { type: 'boolean', help: 'line-by-line progress, no spinners (automatic without a terminal)' },
      ci: { type: 'boolean', help: 'plain progress and junit.xml in the run folder (automatic when CI=true)' },
      junit: { type: 'string', value: 'FILE', help: 'write JUnit XML (steps, gates, baseline) to FILE' },
      baseline: { type: 'string', value: 'FILE', help: 'compare with an earlier report.json; a regression exits 3' },
      out: { type: 'string', value: 'DIR', help: 'the deliverables folder (default: out/<recipe name>/ beside the recipe, or the recipe\'s out:)' },
      'out-mode': { type: 'string', value: 'copy|link', help: 'copy the deliverables (default; copy-on-write where supported) or hard-link them to the cache (no space; editing one edits the cache entry)' },
      ...remoteCacheOptions,
      queue: { type: 'string', value: 'redis://HOST:PORT', help: 'run the steps on `qrun worker`s through this Redis (needs a remote cache); the reports are made here' },
    },
    examples: ['qrun recipes/bert-int8.yaml', 'qrun recipes/bert-int8.yaml --from calibrate', 'qrun recipes/bert-int8.yaml --ci --baseline main/report.json', 'qrun recipes/bert-int8.yaml --remote-cache s3://ci-cache/qrun --remote-cache-mode read', 'qrun recipes/matrix.yaml --queue redis://10.0.0.5:6379 --remote-cache s3://ci-cache/qrun'],
    async run([recipe], o, io) {
      const force = list(o.force) ?? [];
      if (o['dry-run']) return (await import('./plan.ts')).planCommand(recipe!, { cache: str(o.cache), force, from: str(o.from), until: str(o.until), only: str(o.only), remoteCache: str(o['remote-cache']), remoteCacheMode: remoteCacheModeOf(o) }, io);
      const ci = (o.ci as boolean | undefined) ?? process.env.CI === 'true';
      const plain = (o.plain as boolean | undefined) ?? (ci || !process.stdout.isTTY);
      const outMode = str(o['out-mode']);
      if (outMode !== undefined && outMode !== 'copy' && outMode !== 'link') throw errors.usage(`--out-mode must be copy or link, got ${outMode}`, 'qrun run --help says what each does');
      const remoteCacheMode = remoteCacheModeOf(o);
      const flags = { cache: str(o.cache), force, from: str(o.from), until: str(o.until), only: str(o.only), plain, ci, junit: str(o.junit), baseline: str(o.baseline), out: str(o.out), outMode: outMode as 'copy' | 'link' | undefined, remoteCache: str(o['remote-cache']), remoteCacheMode, queue: str(o.queue) };
      return (await (await import('./run.ts')).runCommand(recipe!, flags, io)).exitCode;
    },
  },
  {
    name: 'worker',
    summary: 'run steps from a job queue (BullMQ on Redis) that `qrun run --queue` fills',
    usage: ['worker --queue redis://HOST:PORT [--concurrency N] [--tags gpu,trtexec] [--cache DIR]'],
    details: [
      'Takes step jobs from the queues its tags allow (a step that needs gpu goes only to workers with --tags gpu), ' +
        'takes each step\'s inputs from the remote cache the run names, runs the step with its own local cache (--cache, ' +
        'default $QRUN_CACHE or ~/.cache/qrun/worker) and uploads the result before the job completes. Workers read the ' +
        'recipe and its files at the paths the run was submitted with (a shared checkout). SIGINT/SIGTERM: finishes the ' +
        'steps it is running, then stops; a worker that dies mid-step loses its job to another after QRUN_QUEUE_LOCK_MS ' +
        '(default 60000). docs/distributed.md says more.',
    ],
    args: [],
    options: {
      queue: { type: 'string', value: 'redis://HOST:PORT', help: 'the Redis the runs are submitted to (required)' },
      concurrency: { type: 'string', value: 'N', help: 'steps at once from each queue this worker serves (default 1)' },
      tags: { type: 'string', value: 'TAG,…', help: 'what this machine has (gpu, trtexec, …): it also takes the steps that need them' },
      cache: { type: 'string', value: 'DIR', help: 'this worker\'s local cache (default $QRUN_CACHE, else ~/.cache/qrun/worker)' },
      name: { type: 'string', value: 'NAME', help: 'how runs name this worker (default HOST-PID)' },
    },
    examples: ['qrun worker --queue redis://10.0.0.5:6379', 'qrun worker --queue redis://10.0.0.5:6379 --tags gpu,trtexec --concurrency 2'],
    async run(_a, o, io) {
      const queue = str(o.queue);
      if (!queue) throw errors.usage('qrun worker needs --queue redis://HOST:PORT', 'the same address the runs are submitted with (`qrun run --queue`)');
      const concurrency = numberOption(o, 'concurrency', (n) => Number.isInteger(n) && n >= 1, 'a whole number ≥ 1') ?? 1;
      const tags = (str(o.tags) ?? '').split(',').map((t) => t.trim()).filter(Boolean);
      for (const t of tags) if (!/^[a-z0-9][a-z0-9_-]*$/.test(t)) throw errors.usage(`--tags: "${t}" is not a tag`, 'tags are lower-case words such as gpu or trtexec, separated by commas');
      return (await import('./worker.ts')).workerCommand({ queue, concurrency, tags, cache: str(o.cache), name: str(o.name) }, io);
    },
  },
  {
    name: 'validate',
    summary: 'check the recipe and every step’s options; print every problem and how inputs are wired',
    usage: ['validate <recipe.yaml>'],
    args: [{ name: '<recipe.yaml>' }],
    options: {},
    examples: ['qrun validate recipes/bert-int8.yaml'],
    run: async ([recipe], _o, io) => (await import('./validate.ts')).validateCommand(recipe!, io),
  },
  {
    name: 'plan',
    summary: 'which steps would run and why (cache hit, or what changed); runs nothing',
    usage: ['plan <recipe.yaml> [--cache DIR] [--force STEP] [--from STEP] [--until STEP] [--only STEP] [--remote-cache s3://BUCKET/PREFIX]'],
    details: [
      'The step flags select steps as `qrun run` does (and refuse the same unknown names); an optional step whose tool is absent here is planned as a skip. ' +
        'With a remote cache (--remote-cache, $QRUN_REMOTE_CACHE or remoteCache:), a step the local cache lacks and the remote one holds is a "remote hit" (its manifest is read, nothing is downloaded).',
    ],
    args: [{ name: '<recipe.yaml>' }],
    options: { cache: cacheOption, ...stepOptions, ...remoteCacheOptions },
    examples: ['qrun plan recipes/bert-int8.yaml', 'qrun plan recipes/bert-int8.yaml --only bench'],
    run: async ([recipe], o, io) => (await import('./plan.ts')).planCommand(recipe!, { cache: str(o.cache), force: list(o.force), from: str(o.from), until: str(o.until), only: str(o.only), remoteCache: str(o['remote-cache']), remoteCacheMode: remoteCacheModeOf(o) }, io),
  },
  {
    name: 'compare',
    summary: 'what changed between two runs (options, artifacts, tools, metrics); exit 3 on a regression',
    usage: ['compare <a/report.json> <b/report.json> [--tolerance 0.02] [--latency-tolerance 0.2]'],
    details: [
      'A regression: b did not pass, a metric a had is missing in b, agreement or INT8 accuracy lower by more than ' +
        '--tolerance, or an INT8/FP32 latency ratio that rose outside the noise and by more than --latency-tolerance.',
    ],
    args: [{ name: '<a/report.json>' }, { name: '<b/report.json>' }],
    options: {
      tolerance: { type: 'string', value: 'X', help: 'largest drop in agreement or INT8 accuracy that is not a regression (absolute; default 0.02)' },
      'latency-tolerance': { type: 'string', value: 'X', help: 'largest rise of an INT8/FP32 latency ratio that is not a regression (relative; default 0.2)' },
    },
    examples: ['qrun compare main/report.json branch/report.json'],
    async run([a, b], o, io) {
      const atLeast0 = (n: number) => Number.isFinite(n) && n >= 0;
      const tolerance = numberOption(o, 'tolerance', atLeast0, 'a number ≥ 0');
      const latencyTolerance = numberOption(o, 'latency-tolerance', atLeast0, 'a number ≥ 0');
      return (await import('./compare.ts')).compareCommand(a, b, { tolerance, latencyTolerance }, io);
    },
  },
  {
    name: 'inspect',
    summary: 'a model’s inputs, outputs, ops and quantizable nodes (names for exclude.nodes); for a run, which nodes are int8',
    usage: ['inspect <model | run> [--json]'],
    details: [
      'A model: a Hugging Face model folder, a .onnx file or a hub id in the local Hugging Face cache. A run: its folder ' +
        '(.qrun/runs/<id>) or its report.json; then each node says whether it got Q/DQ or stayed float (and why), with its calibrated ranges.',
    ],
    args: [{ name: '<model | run>' }],
    options: { json: { type: 'boolean', help: 'print the inspection as JSON' } },
    examples: ['qrun inspect models/bert-langid', 'qrun inspect recipes/.qrun/runs/<id> --json'],
    run: async ([target], o, io) => (await import('./inspect.ts')).inspectCommand(target, { json: o.json as boolean | undefined }, io),
  },
  {
    name: 'cache ls',
    summary: 'list a cache’s entries (key, plugin, size, date) and its runs',
    usage: ['cache ls [--cache DIR]'],
    details: [cacheLookup],
    args: [],
    options: { cache: cacheOption },
    examples: ['qrun cache ls --cache recipes/.qrun'],
    run: async (_a, o, io) => (await import('./cache.ts')).cacheCommand('ls', { cache: str(o.cache) }, io),
  },
  {
    name: 'cache verify',
    summary: 'check every entry against its manifest’s sha256s; exit 1 when one is damaged',
    usage: ['cache verify [--cache DIR]'],
    details: [cacheLookup],
    args: [],
    options: { cache: cacheOption },
    examples: ['qrun cache verify --cache recipes/.qrun'],
    run: async (_a, o, io) => (await import('./cache.ts')).cacheCommand('verify', { cache: str(o.cache) }, io),
  },
  {
    name: 'cache gc',
    summary: 'remove what the last N invocations and live runs do not use',
    usage: ['cache gc [--cache DIR] [--keep-last N]'],
    details: [
      'Keeps what the last --keep-last invocations used (a matrix is one invocation) and whatever live runs and builds ' +
        'hold; removes other entries, older runs and abandoned builds. Without --cache, $QRUN_CACHE or ./.qrun: gc ' +
        'never picks a cache it found by searching.',
    ],
    args: [],
    options: {
      cache: cacheOption,
      'keep-last': { type: 'string', value: 'N', help: 'keep what the last N invocations used (default 5)' },
    },
    examples: ['qrun cache gc --cache recipes/.qrun --keep-last 2'],
    async run(_a, o, io) {
      const keepLast = numberOption(o, 'keep-last', (n) => Number.isInteger(n) && n >= 0, 'a whole number');
      return (await import('./cache.ts')).cacheCommand('gc', { cache: str(o.cache), keepLast }, io);
    },
  },
];
