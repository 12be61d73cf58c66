// A stand-in for NVIDIA's trtexec in tests: an executable node script that records each call (argv
// and working directory), answers --version and --help with the TensorRT 10 banner, prints a
// captured-format log (errors and warnings on stderr, as TensorRT's sample logger does), writes the
// --saveEngine, --timingCacheFile and --export* files it was given, and exits with the configured
// code. The exported JSON is placeholder content: only the files' presence is tested.
// Also a stand-in for nvidia-smi that answers --query-gpu with given CSV rows.
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface FakeTrtexecBehaviour {
  /** Log file to print; `{{COMMAND}}` in it becomes the received command line. */
  log: string;
  exitCode?: number;
  /** Write the engine and timing cache files named on the command line (default true). */
  writeFiles?: boolean;
  /** false: answer --version like a trtexec without the flag (no banner, exit 1), so --help is asked. */
  versionFlag?: boolean;
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
if (args[0] === '--version' && cfg.versionFlag === false) {
  process.stderr.write('Unknown option: --version\\n');
  process.exit(1);
}
if (args[0] === '--help' || args[0] === '--version') {
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
  for (const f of ['exportTimes', 'exportProfile', 'exportLayerInfo']) if (flag(f)) fs.writeFileSync(flag(f), JSON.stringify([{ fake: f }]));
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

/**
 * Writes `nvidia-smi` into `dir`: `--query-gpu=<fields>` prints `rows` (the CSV lines of the fields
 * index,uuid,name,compute_cap); with `computeCap: false` it rejects compute_cap as a driver before
 * 510 does, and then prints the rows without their last field.
 */
export async function installFakeNvidiaSmi(dir: string, rows: string[], opts: { computeCap?: boolean } = {}): Promise<string> {
  const path = join(dir, 'nvidia-smi');
  const body = `#!${process.execPath}
'use strict';
const rows = ${JSON.stringify(rows)};
const query = (process.argv.find((a) => a.startsWith('--query-gpu=')) || '').slice(12);
if (query.includes('compute_cap') && ${opts.computeCap === false}) {
  process.stdout.write('Field "compute_cap" is not a valid field to query.\\n');
  process.exit(2);
}
const keep = query.split(',').length;
for (const r of rows) process.stdout.write(r.split(', ').slice(0, keep).join(', ') + '\\n');
`;
  await writeFile(path, body);
  await chmod(path, 0o755);
  return path;
}
