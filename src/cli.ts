// argv → command. The only place that prints errors and sets the exit code. The commands, their
// arguments and their options are declared in src/commands/command-table.ts; command-line.ts
// parses argv against them (per command, with node:util parseArgs) and help.ts writes the help.
import { errors, EXIT, formatDiagnostic, QrunError } from './errors.ts';
import { parseCommandLine } from './commands/command-line.ts';
import { COMMANDS } from './commands/command-table.ts';
import { helpText } from './commands/help.ts';
import { QRUN_VERSION } from './version.ts';
import { installExitBackstop } from './engine/process-exit.ts';

const io = {
  out: (line: string) => process.stdout.write(line + '\n'),
  err: (line: string) => process.stderr.write(line + '\n'),
};

async function main(argv: string[]): Promise<number> {
  const line = parseCommandLine(argv, COMMANDS);
  if (line.kind === 'version') {
    io.out(QRUN_VERSION);
    return EXIT.ok;
  }
  if (line.kind === 'help') {
    // Asked for: stdout and exit 0. Shown because a command was missing (`qrun`, `qrun cache`): a usage error.
    (line.toStderr ? io.err : io.out)(helpText(line.topic, COMMANDS));
    return line.toStderr ? EXIT.usage : EXIT.ok;
  }
  return line.command.run(line.args, line.options, io);
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
