// A stand-in for NVIDIA's trtexec in tests: an executable node script that records each call (argv
// and working directory), answers --help with the TensorRT 10 banner, prints a captured-format log
// (errors and warnings on stderr, as TensorRT's sample logger does), writes the --saveEngine and
// --timingCacheFile files it was given, and exits with the configured code.
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface FakeTrtexecBehaviour {
  /** Log file to print; `{{COMMAND}}` in it becomes the received command line. */
  log: string;
  exitCode?: number;
  /** Write the engine and timing cache files named on the command line (default true). */
  writeFiles?: boolean;
}

export interface FakeTrtexec {
  path: string;
  calls(): Promise<{ args: string[]; cwd: string }[]>;
}

const script = (node: string) => `#!${node}
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const cfg = JSON.parse(fs.readFileSync(path.join(__dirname, 'behaviour.json'), 'utf8'));
const args = process.argv.slice(2);
fs.appendFileSync(path.join(__dirname, 'calls.jsonl'), JSON.stringify({ args, cwd: process.cwd() }) + '\\n');
if (args[0] === '--help') {
  process.stdout.write('&&&& RUNNING TensorRT.trtexec [TensorRT v100600] [b26] # trtexec --help\\n=== Model Options ===\\n  --onnx=<file>               ONNX model\\n');
  process.exit(0);
}
const command = ['trtexec', ...args].join(' ');
const text = fs.readFileSync(cfg.log, 'utf8').split('{{COMMAND}}').join(command);
for (const line of text.split('\\n')) {
  if (/\\[(E|W)\\]/.test(line)) fs.writeSync(2, line + '\\n');
  else fs.writeSync(1, line + '\\n');
}
const flag = (name) => { const a = args.find((x) => x.startsWith('--' + name + '=')); return a && a.slice(name.length + 3); };
if (cfg.writeFiles !== false && (cfg.exitCode ?? 0) === 0) {
  if (flag('saveEngine')) fs.writeFileSync(flag('saveEngine'), 'fake TensorRT plan for ' + flag('onnx'));
  if (flag('timingCacheFile')) fs.writeFileSync(flag('timingCacheFile'), 'fake timing cache');
}
process.exit(cfg.exitCode ?? 0);
`;

/** Writes `trtexec` into `dir` (put `dir` first on PATH, or pass the path as the `trtexec` option). */
export async function installFakeTrtexec(dir: string, behaviour: FakeTrtexecBehaviour): Promise<FakeTrtexec> {
  const path = join(dir, 'trtexec');
  await writeFile(path, script(process.execPath));
  await chmod(path, 0o755);
  await writeFile(join(dir, 'behaviour.json'), JSON.stringify(behaviour));
  await writeFile(join(dir, 'calls.jsonl'), '');
  return {
    path,
    calls: async () =>
      (await readFile(join(dir, 'calls.jsonl'), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { args: string[]; cwd: string }),
  };
}

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
