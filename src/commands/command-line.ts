// argv → which command, its options and its arguments, by the conventions users expect of a CLI
// (git, npm, commander, clipanion): `qrun help [command]`, `qrun <command> --help`, `qrun --version`,
// options scoped to the command that declares them, and a usage error (exit 2) with a suggestion for
// an unknown command or option. `qrun <recipe.yaml>` is the default command, `run`.
//
// Built on node:util parseArgs, run once per command with that command's options only: the command
// table (command-table.ts) is the single declaration the parser, the help text and the docs read.
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { errors } from '../errors.ts';
import { didYouMean } from '../recipe/suggest.ts';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** The value's name in help (`--cache DIR`). */
  value?: string;
  help: string;
}

export interface ArgumentSpec {
  name: string;
  optional?: boolean;
}

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface CommandSpec<Io = unknown> {
  /** One word, or two for a subcommand (`cache gc`). */
  name: string;
  summary: string;
  /** Usage lines after `qrun ` (the default command has two). */
  usage: string[];
  /** Paragraphs printed under the usage in `qrun help <command>`. */
  details?: string[];
  args: ArgumentSpec[];
  options: Record<string, OptionSpec>;
  examples?: string[];
  run(args: string[], options: OptionValues, io: Io): Promise<number>;
}

export type CommandLine<Io> =
  | { kind: 'version' }
  /** Help on qrun (no topic), on a command, or on a group of subcommands (`cache`). */
  | { kind: 'help'; topic?: string; toStderr?: boolean }
  | { kind: 'command'; command: CommandSpec<Io>; args: string[]; options: OptionValues };

const HELP_FLAGS = new Set(['-h', '--help']);
const VERSION_FLAGS = new Set(['-v', '--version']);

/** `cache` for `cache gc`: commands whose name has two words form a group. */
export const groupOf = (name: string): string | undefined => (name.includes(' ') ? name.split(' ')[0] : undefined);

/**
 * Whether a first argument that is not a command names a recipe: an existing file, a .yaml/.yml
 * name or a path (`recipes/x`): for those, a missing file is "recipe file not found", which says
 * more than "unknown command".
 */
function looksLikeRecipe(arg: string): boolean {
  if (/\.ya?ml$/i.test(arg) || /[\\/]/.test(arg)) return true;
  try {
    return statSync(arg).isFile();
  } catch {
    return false;
  }
}

/** A recipe the user may have meant by a bare word (`qrun bert-int8` → recipes/bert-int8.yaml). */
function recipeNamed(word: string): string | undefined {
  for (const f of [`${word}.yaml`, `${word}.yml`, `recipes/${word}.yaml`, `recipes/${word}.yml`]) {
    try {
      if (statSync(f).isFile()) return f;
    } catch {
      // not this one
    }
  }
  return undefined;
}

export function parseCommandLine<Io>(argv: string[], table: CommandSpec<Io>[]): CommandLine<Io> {
  const byName = new Map(table.map((c) => [c.name, c]));
  const groups = new Set(table.map((c) => groupOf(c.name)).filter((g): g is string => g !== undefined));
  const first = argv[0];
  if (first === undefined) return { kind: 'help', toStderr: true };
  if (VERSION_FLAGS.has(first)) {
    if (argv.length > 1) throw errors.usage(`${first} takes no arguments`, 'qrun --version');
    return { kind: 'version' };
  }
  if (HELP_FLAGS.has(first)) return helpOn(argv.slice(1), byName, groups);
  if (first === 'help') return helpOn(argv.slice(1), byName, groups);

  // Options before anything else (`qrun --cache c recipe.yaml`) belong to the default command.
  if (first.startsWith('-')) return parseFor(byName.get('run')!, argv, table);
  if (groups.has(first)) {
    const sub = argv[1];
    const subs = table.filter((c) => groupOf(c.name) === first).map((c) => c.name.split(' ')[1]!);
    if (sub === undefined) return { kind: 'help', topic: first, toStderr: true };
    if (HELP_FLAGS.has(sub)) return { kind: 'help', topic: first };
    const command = byName.get(`${first} ${sub}`);
    if (!command) {
      const near = didYouMean(sub, subs);
      throw errors.usage(`unknown command: ${first} ${sub}`, `${near ? `did you mean \`qrun ${first} ${near}\`? ` : ''}qrun ${first} takes ${subs.join(', ')} (\`qrun help ${first}\`)`);
    }
    return parseFor(command, argv.slice(2), table);
  }
  const command = byName.get(first);
  if (command) return parseFor(command, argv.slice(1), table);
  if (looksLikeRecipe(first)) return parseFor(byName.get('run')!, argv, table);
  const names = [...table.map((c) => groupOf(c.name) ?? c.name), 'help'];
  // A subcommand's own word (`qrun ls`) suggests its full name (`qrun cache ls`).
  const near = didYouMean(first, names) ?? table.find((c) => groupOf(c.name) && didYouMean(first, [c.name.split(' ')[1]!]))?.name;
  const recipe = recipeNamed(first);
  const suggestion = near ? `did you mean \`qrun ${near}\`? ` : recipe ? `did you mean \`qrun ${recipe}\`? ` : '';
  throw errors.usage(`unknown command: ${first}`, `${suggestion}the commands are ${[...new Set(names)].join(', ')}; a recipe is a .yaml file (\`qrun help\`)`);
}

function helpOn(words: string[], byName: Map<string, CommandSpec<unknown>>, groups: Set<string>): { kind: 'help'; topic?: string } {
  const topic = words.filter((w) => !HELP_FLAGS.has(w)).join(' ');
  if (!topic || topic === 'help') return { kind: 'help' };
  if (byName.has(topic) || groups.has(topic)) return { kind: 'help', topic };
  const near = didYouMean(topic, [...byName.keys(), ...groups]);
  throw errors.usage(`no help on "${topic}": it is not a qrun command`, `${near ? `did you mean \`qrun help ${near}\`? ` : ''}\`qrun help\` lists the commands`);
}

/** Parses argv with the command's own options: an option of another command is a usage error that names it. */
function parseFor<Io>(command: CommandSpec<Io>, argv: string[], table: CommandSpec<Io>[]): CommandLine<Io> {
  const options = { ...command.options, help: { type: 'boolean', short: 'h', help: '' } } as Record<string, OptionSpec>;
  const config = Object.fromEntries(Object.entries(options).map(([name, o]) => [name, { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) }]));
  // A lenient pass first, to name every option the user wrote before parseArgs' own (terser) errors.
  const { tokens } = parseArgs({ args: argv, options: config, allowPositionals: true, strict: false, tokens: true });
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help')) return { kind: 'help', topic: command.name };
  const shorts = new Map(Object.entries(options).flatMap(([name, o]) => (o.short ? [[o.short, name] as const] : [])));
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const name = t.rawName.startsWith('--') ? t.name : shorts.get(t.name);
    if (name !== undefined && name in options) continue;
    throw unknownOption(t.rawName, command, table);
  }
  let parsed: { values: OptionValues; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: config, allowPositionals: true, strict: true }) as { values: OptionValues; positionals: string[] };
  } catch (e) {
    // What is left: a value missing (`--cache` last) or given to a flag (`--plain=yes`).
    throw errors.usage(`qrun ${command.name}: ${(e as Error).message}`, `\`qrun ${command.name} --help\` lists its options`);
  }
  const required = command.args.filter((a) => !a.optional);
  if (parsed.positionals.length < required.length) {
    const missing = required.slice(parsed.positionals.length).map((a) => a.name);
    throw errors.usage(`qrun ${command.name} needs ${missing.join(' and ')}`, `qrun ${command.usage[command.usage.length - 1]} (\`qrun ${command.name} --help\`)`);
  }
  if (parsed.positionals.length > command.args.length) {
    const extra = parsed.positionals.slice(command.args.length);
    throw errors.usage(`qrun ${command.name} takes ${command.args.length ? command.args.map((a) => a.name).join(' ') : 'no arguments'}; unexpected: ${extra.join(' ')}`, `qrun ${command.usage[command.usage.length - 1]}`);
  }
  const { help: _help, ...values } = parsed.values;
  return { kind: 'command', command, args: parsed.positionals, options: values };
}

function unknownOption<Io>(raw: string, command: CommandSpec<Io>, table: CommandSpec<Io>[]) {
  const name = raw.replace(/^-+/, '');
  const owners = table.filter((c) => c !== command && (name in c.options || Object.values(c.options).some((o) => o.short === name)));
  if (owners.length) {
    const where = owners.map((c) => `qrun ${c.name}`).join(', ');
    return errors.usage(`${raw} is an option of ${where}, not of qrun ${command.name}`, `\`qrun ${command.name} --help\` lists the options of qrun ${command.name}`);
  }
  const near = didYouMean(name, Object.keys(command.options));
  return errors.usage(`unknown option ${raw} for qrun ${command.name}`, `${near ? `did you mean --${near}? ` : ''}\`qrun ${command.name} --help\` lists its options`);
}
