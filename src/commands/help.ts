// `qrun help`, `qrun help <command>`, `qrun <command> --help`: written from the command table, so
// the help lists exactly the options each command accepts.
import { EXIT_CODES } from '../errors.ts';
import { QRUN_VERSION } from '../version.ts';
import { groupOf, type CommandSpec, type OptionSpec } from './command-line.ts';

const GLOBAL_OPTIONS: [string, string][] = [
  ['-h, --help', 'help on qrun, or on a command (`qrun <command> --help`, `qrun help <command>`)'],
  ['-v, --version', 'print the version'],
];

const WIDTH = 100;

/**
 * Two columns; the second wraps under itself so no line passes WIDTH (terminals, `| less`), and a
 * first column longer than 28 characters puts its text on the next line instead of widening them all.
 */
function columns(rows: [string, string][], indent = '  '): string[] {
  const width = Math.min(28, Math.max(...rows.map(([a]) => a.length))) + 2;
  const pad = ' '.repeat(indent.length + width);
  return rows.flatMap(([a, b]) => {
    const text = wrap(b, WIDTH - pad.length);
    if (a.length + 2 > width) return [`${indent}${a}`, ...text.map((l) => pad + l)];
    const [head = '', ...rest] = text;
    return [`${indent}${a.padEnd(width)}${head}`.trimEnd(), ...rest.map((l) => pad + l)];
  });
}

const optionLabel = (name: string, o: OptionSpec) => `${o.short ? `-${o.short}, ` : ''}--${name}${o.value ? ` ${o.value}` : ''}`;

/** The word a command is called with in the overview: its name and its arguments. */
const signature = (c: CommandSpec<unknown>) => [c.name, ...c.args.map((a) => (a.optional ? `[${a.name}]` : a.name))].join(' ');

export function overviewHelp(table: CommandSpec<unknown>[]): string {
  return [
    `qrun ${QRUN_VERSION} — Hugging Face transformer → INT8 deployment, from a YAML recipe`,
    '',
    'usage:',
    '  qrun <recipe.yaml> [options]     run the recipe (the default command: same as `qrun run`)',
    '  qrun <command> [options]',
    '',
    'commands:',
    ...columns([...table.map((c): [string, string] => [signature(c), c.summary]), ['help [command]', 'this help, or a command’s options']]),
    '',
    'options:',
    ...columns(GLOBAL_OPTIONS),
    '',
    'exit codes:',
    ...columns(EXIT_CODES),
    '',
    '`qrun help <command>` lists a command’s options. Writing a recipe: README.md and docs/recipe-reference.md',
    '(every step, option, metric and gate).',
  ].join('\n');
}

export function commandHelp(c: CommandSpec<unknown>): string {
  const options = [...Object.entries(c.options).map(([name, o]): [string, string] => [optionLabel(name, o), o.help]), ['-h, --help', 'this help'] as [string, string]];
  return [
    `qrun ${c.name} — ${c.summary}`,
    '',
    'usage:',
    ...c.usage.map((u) => `  qrun ${u}`),
    ...(c.details?.length ? ['', ...c.details.flatMap((d) => wrap(d, WIDTH))] : []),
    '',
    'options:',
    ...columns(options),
    ...(c.examples?.length ? ['', 'examples:', ...c.examples.map((e) => `  ${e}`)] : []),
  ].join('\n');
}

/** Help on a group of subcommands (`qrun help cache`): each subcommand with its usage. */
export function groupHelp(group: string, table: CommandSpec<unknown>[]): string {
  const members = table.filter((c) => groupOf(c.name) === group);
  return [
    `qrun ${group} — ${members.map((c) => c.name.split(' ')[1]).join(' | ')}`,
    '',
    'usage:',
    ...members.flatMap((c) => c.usage.map((u) => `  qrun ${u}`)),
    '',
    'commands:',
    ...columns(members.map((c): [string, string] => [c.name, c.summary])),
    '',
    `\`qrun ${group} <command> --help\` lists a command’s options.`,
  ].join('\n');
}

export function helpText(topic: string | undefined, table: CommandSpec<unknown>[]): string {
  if (!topic) return overviewHelp(table);
  const command = table.find((c) => c.name === topic);
  return command ? commandHelp(command) : groupHelp(topic, table);
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}
