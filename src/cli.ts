// argv → command. The only place that prints errors and sets the exit code.
import { parseArgs } from 'node:util';
import { errors, EXIT, formatDiagnostic, QrunError } from './errors.ts';
import { runCommand } from './commands/run.ts';
import { validateCommand } from './commands/validate.ts';
import { planCommand } from './commands/plan.ts';
import { cacheCommand } from './commands/cache.ts';
import { compareCommand } from './commands/compare.ts';
import { inspectCommand } from './commands/inspect.ts';
import { QRUN_VERSION } from './version.ts';
import { installExitBackstop } from './engine/process-exit.ts';

const HELP = `qrun ${QRUN_VERSION} — Hugging Face transformer → INT8 deployment, from a YAML recipe

usage:
  qrun <recipe.yaml> [options]          run the recipe (same as \`qrun run\`)
  qrun run <recipe.yaml> [options]
  qrun validate <recipe.yaml>           check the recipe and every step's options
  qrun plan <recipe.yaml>               which steps would run, and why (same as run --dry-run)
  qrun compare <a/report.json> <b/report.json> [--tolerance 0.02] [--latency-tolerance 0.2]
                                        what changed between two runs; exit 3 on a regression
  qrun inspect <model | run> [--json]   inputs, outputs, ops and every quantizable node (names for
                                        exclude.nodes); for a run folder or report.json, which nodes
                                        are int8 and which stayed float (and why), with their ranges
  qrun cache ls|verify|gc [--cache DIR] [--keep-last N]
                                        list, check or prune a cache (default ./.qrun)

options:
  --cache DIR        cache and runs folder (default: .qrun beside the recipe, or $QRUN_CACHE)
  --force STEP       run STEP even if it is cached (repeatable)
  --from STEP        run STEP and every later step even if cached
  --until STEP       stop after STEP
  --only STEP        run STEP alone (earlier steps must be in the cache)
  --dry-run          print the plan instead of running
  --plain            line-by-line progress, no spinners (automatic without a terminal)
  --ci               plain progress and junit.xml in the run folder (automatic when CI=true)
  --junit FILE       write JUnit XML (steps, gates, baseline) to FILE
  --baseline FILE    compare with an earlier report.json; a regression sets exit code 3
  -h, --help         this help
  -v, --version      print the version

exit codes: 0 passed · 1 a step failed · 2 bad recipe or usage · 3 a gate failed or a regression against
            --baseline · 130 interrupted by SIGINT (Ctrl-C) · 143 by SIGTERM`;

const io = {
  out: (line: string) => process.stdout.write(line + '\n'),
  err: (line: string) => process.stderr.write(line + '\n'),
};

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      cache: { type: 'string' },
      force: { type: 'string', multiple: true },
      plain: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      from: { type: 'string' },
      until: { type: 'string' },
      only: { type: 'string' },
      'keep-last': { type: 'string' },
      tolerance: { type: 'string' },
      'latency-tolerance': { type: 'string' },
      ci: { type: 'boolean' },
      junit: { type: 'string' },
      baseline: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.version) {
    io.out(QRUN_VERSION);
    return EXIT.ok;
  }
  const [first, ...rest] = positionals;
  if (values.help || !first) {
    io.out(HELP);
    return first || values.help ? EXIT.ok : EXIT.usage;
  }
  if (first === 'cache') {
    const keepLast = values['keep-last'] === undefined ? undefined : Number(values['keep-last']);
    if (keepLast !== undefined && !(Number.isInteger(keepLast) && keepLast >= 0)) throw new QrunError([{ code: 'USAGE', message: `--keep-last must be a whole number, got ${values['keep-last']}` }], EXIT.usage);
    return cacheCommand(rest[0], { cache: values.cache, keepLast }, io);
  }
  if (first === 'inspect') return inspectCommand(rest[0], { json: values.json }, io);
  if (first === 'compare') {
    const tolerance = values.tolerance === undefined ? undefined : Number(values.tolerance);
    if (tolerance !== undefined && !(tolerance >= 0)) throw new QrunError([{ code: 'USAGE', message: `--tolerance must be a number ≥ 0, got ${values.tolerance}` }], EXIT.usage);
    const latencyTolerance = values['latency-tolerance'] === undefined ? undefined : Number(values['latency-tolerance']);
    if (latencyTolerance !== undefined && !(latencyTolerance >= 0)) throw new QrunError([{ code: 'USAGE', message: `--latency-tolerance must be a number ≥ 0, got ${values['latency-tolerance']}` }], EXIT.usage);
    return compareCommand(rest[0], rest[1], { tolerance, latencyTolerance }, io);
  }
  const commands = new Set(['run', 'validate', 'plan']);
  const command = commands.has(first) ? first : 'run';
  const target = commands.has(first) ? rest[0] : first;
  if (!target) throw new QrunError([{ code: 'USAGE', message: `qrun ${command} needs a recipe file`, hint: `qrun ${command} recipes/bert-int8.yaml` }], EXIT.usage);
  if (command === 'validate') return validateCommand(target, io);
  if (command === 'plan' || values['dry-run']) return planCommand(target, { cache: values.cache, force: values.force }, io);
  const ci = values.ci ?? process.env.CI === 'true';
  const plain = values.plain ?? (ci || !process.stdout.isTTY);
  const { exitCode } = await runCommand(target, { cache: values.cache, force: values.force ?? [], from: values.from, until: values.until, only: values.only, plain, ci, junit: values.junit, baseline: values.baseline }, io);
  return exitCode;
}

// Whatever ends the process before main() has returned (a plugin's process.exit outside its step,
// a promise that never settles) is reported and cannot exit 0.
const backstop = installExitBackstop((code) => io.err(formatDiagnostic(errors.exitedEarly(String(code)).diagnostics[0]!)));
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof QrunError) {
    for (const d of e.diagnostics) io.err(formatDiagnostic(d));
    process.exitCode = e.exitCode;
  } else if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    io.err(`error USAGE: ${(e as Error).message}\n  hint: run \`qrun --help\``);
    process.exitCode = EXIT.usage;
  } else {
    io.err(`qrun: internal error: ${(e as Error).stack ?? String(e)}`);
    io.err('this is a bug in qrun: please report it with the command, the recipe and the lines above');
    process.exitCode = EXIT.internal;
  }
}
backstop.finished();
