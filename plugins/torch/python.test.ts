// The TOOL_MISSING errors: no Python, Python too old, Python without torch or transformers, a
// Python that does not run; and that the probe runs once per process. This machine's python3 has
// no torch; where one does, the "-S" wrapper below still hides it.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { QrunError } from '../../src/errors.ts';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { torchFingerprint } from './common.ts';
import { INSTALL_HINT } from './errors.ts';
import { checkPython, clearPythonProbes, locatePython, probePython, requirePython } from './python.ts';

const dir = useTempDir();

/** An executable shell script standing in for Python. */
function fakePython(name: string, body: string): string {
  const bin = join(dir, 'bin', name);
  mkdirSync(join(dir, 'bin', name), { recursive: true });
  const file = join(bin, 'python');
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

/** A fake Python whose probe prints this JSON (and counts its runs). */
function probePrinting(name: string, info: object): string {
  const counter = join(dir, `${name}.count`);
  return fakePython(name, `echo run >> ${counter}\ncat <<'JSON'\n${JSON.stringify(info)}\nJSON`);
}

const env = (extra: NodeJS.ProcessEnv) => ({ PATH: process.env.PATH, ...extra });

async function missing(extra: NodeJS.ProcessEnv, needs?: string[]): Promise<QrunError> {
  const r = checkPython(await probePython(env(extra)), needs);
  if (!('error' in r)) throw new Error('expected a TOOL_MISSING error');
  return r.error;
}

beforeEach(() => clearPythonProbes());

describe('finding Python', () => {
  it('QRUN_PYTHON=/nonexistent: Python not found, with the install hint', async () => {
    const e = await missing({ QRUN_PYTHON: '/nonexistent' });
    expect(e.code).toBe('TOOL_MISSING');
    expect(e.message).toBe('Python not found: QRUN_PYTHON=/nonexistent is not an executable file');
    expect(e.diagnostics[0]!.hint).toBe(INSTALL_HINT);
  });

  it('no python3 on PATH', async () => {
    const e = await missing({ PATH: join(dir, 'empty') });
    expect(e.message).toBe('Python not found: no python3 on PATH');
    expect(e.diagnostics[0]!.hint).toMatch(/pip install torch transformers.*QRUN_PYTHON=/);
  });

  it('a bare QRUN_PYTHON name is looked up on PATH', async () => {
    const py = probePrinting('named', { python: '3.12.1', packages: {} });
    const located = await locatePython({ QRUN_PYTHON: 'python', PATH: join(py, '..') });
    expect(located).toEqual({ wanted: 'python', source: 'QRUN_PYTHON', path: py });
  });
});

describe('what the Python has', () => {
  it('a real Python without torch: "PyTorch is not installed", not "Python not found"', async () => {
    // -S leaves site-packages out, so torch is absent even where this machine's python3 has one.
    const py = fakePython('no-site', 'exec python3 -S "$@"');
    const e = await missing({ QRUN_PYTHON: py });
    expect(e.code).toBe('TOOL_MISSING');
    expect(e.message).toMatch(new RegExp(`^PyTorch is not installed for ${py} \\(Python 3\\.\\d+\\.\\d+\\): ModuleNotFoundError: No module named 'torch'$`));
    expect(e.diagnostics[0]!.hint).toBe(INSTALL_HINT);
  });

  it('this machine’s python3, when it has no torch, fails the same way', async (t) => {
    const outcome = await probePython(env({}));
    t.skip(Boolean(outcome.ok && outcome.info.packages.torch?.version), 'this machine’s python3 has torch: the no-torch error cannot be seen here');
    const e = await missing({});
    expect(e.message).toMatch(/^PyTorch is not installed for .*python3.* \(Python 3\.\d+\.\d+\)/);
  });

  it('Python older than 3.10', async () => {
    const py = probePrinting('old', { python: '3.8.10', packages: { torch: { version: '2.1.0' }, transformers: { version: '4.40.0' } } });
    const e = await missing({ QRUN_PYTHON: py });
    expect(e.message).toBe(`${py} is Python 3.8.10; the torch steps need Python 3.10 or newer`);
  });

  it('torch without transformers', async () => {
    const py = probePrinting('no-tf', { python: '3.12.3', packages: { torch: { version: '2.11.0' }, transformers: { error: "ModuleNotFoundError: No module named 'transformers'" } } });
    const e = await missing({ QRUN_PYTHON: py });
    expect(e.message).toBe(`transformers is not installed for ${py} (Python 3.12.3): ModuleNotFoundError: No module named 'transformers'`);
  });

  it('onnx missing only matters to the steps that need it', async () => {
    const py = probePrinting('no-onnx', { python: '3.12.3', packages: { torch: { version: '2.11.0' }, transformers: { version: '5.17.0' }, onnx: { error: 'ModuleNotFoundError' } } });
    const ok = checkPython(await probePython(env({ QRUN_PYTHON: py })));
    expect('info' in ok).toBe(true);
    const e = await missing({ QRUN_PYTHON: py }, ['torch', 'transformers', 'onnx']);
    expect(e.message).toMatch(/^onnx is not installed/);
    expect(e.diagnostics[0]!.hint).toMatch(/pip install onnx/);
  });

  it('a "python" that is not Python', async () => {
    const py = fakePython('broken', 'echo "not python" >&2\nexit 3');
    const e = await missing({ QRUN_PYTHON: py });
    expect(e.message).toBe(`${py} did not run as Python 3: exit code 3: not python`);
  });

  it('probes once per process and selection', async () => {
    const py = probePrinting('counted', { python: '3.12.3', packages: { torch: { version: '2.11.0' }, transformers: { version: '5.17.0' } } });
    const info = await requirePython(undefined, env({ QRUN_PYTHON: py }));
    await requirePython(undefined, env({ QRUN_PYTHON: py }));
    await probePython(env({ QRUN_PYTHON: py }));
    expect(info.python).toBe('3.12.3');
    expect(readFileSync(join(dir, 'counted.count'), 'utf8').trim().split('\n')).toHaveLength(1);
  });
});

describe('fingerprint', () => {
  it('names the versions and the device, and does not throw where torch is missing', async () => {
    const saved = process.env.QRUN_PYTHON;
    try {
      process.env.QRUN_PYTHON = probePrinting('gpu', {
        python: '3.12.3',
        packages: { torch: { version: '2.11.0+cu130', cuda: '13.0', device: 'NVIDIA H100 80GB HBM3' }, transformers: { version: '5.17.0' }, onnx: { version: '1.23.1' } },
      });
      expect(await torchFingerprint({ device: 'auto' })).toEqual({ python: '3.12.3', torch: '2.11.0+cu130', transformers: '5.17.0', device: 'cuda 13.0 NVIDIA H100 80GB HBM3' });
      expect(await torchFingerprint({ device: 'cpu', extraPackages: ['onnx'] })).toEqual({ python: '3.12.3', torch: '2.11.0+cu130', transformers: '5.17.0', onnx: '1.23.1', device: 'cpu' });
      process.env.QRUN_PYTHON = '/nonexistent';
      expect(await torchFingerprint()).toEqual({ python: 'unavailable: Python not found: QRUN_PYTHON=/nonexistent is not an executable file' });
    } finally {
      if (saved === undefined) delete process.env.QRUN_PYTHON;
      else process.env.QRUN_PYTHON = saved;
    }
  });
});
