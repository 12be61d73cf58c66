// Failures of the torch steps that the user can act on, in the form of src/errors.ts (a QrunError
// with a stable code and a hint). TOOL_MISSING is the code src/errors.ts uses for absent tools; the
// messages here say which part is missing (Python, its version, torch, transformers, onnx).
import { QrunError } from '../../src/errors.ts';

export const INSTALL_HINT = 'install PyTorch and transformers (pip install torch transformers) or set QRUN_PYTHON=/path/to/python with them';

const toolMissing = (message: string, hint = INSTALL_HINT) => new QrunError([{ code: 'TOOL_MISSING', message, hint }]);

export const torchErrors = {
  pythonNotFound: (wanted: string, source: 'QRUN_PYTHON' | 'PATH') =>
    toolMissing(source === 'QRUN_PYTHON' ? `Python not found: QRUN_PYTHON=${wanted} is not an executable file` : `Python not found: no ${wanted} on PATH`),

  pythonBroken: (executable: string, detail: string) => toolMissing(`${executable} did not run as Python 3: ${detail}`),

  pythonTooOld: (executable: string, version: string) =>
    toolMissing(`${executable} is Python ${version}; the torch steps need Python 3.10 or newer`, `install Python ≥ 3.10 with torch and transformers, or set QRUN_PYTHON=/path/to/python (≥ 3.10) with them`),

  packageMissing: (pkg: string, executable: string, version: string, detail: string, hint = INSTALL_HINT) =>
    toolMissing(`${pkg} is not installed for ${executable} (Python ${version}): ${detail}`, hint),

  /** The worker answered with an error: its one-line summary here, the full traceback in the log. */
  workerFailed: (method: string, summary: string, logFile: string | undefined, code?: string, hint?: string) =>
    new QrunError([
      {
        code: code ?? 'TORCH_WORKER_FAILED',
        message: `torch worker ${method} failed: ${summary}${logFile ? `\n  full traceback: ${logFile}` : ''}`,
        hint: hint ?? 'the traceback in the log names the failing call; a Python package version mismatch (torch, transformers) is the usual cause',
      },
    ]),

  /** The worker died without answering (killed, out of memory, a crash in native code). */
  workerDied: (method: string, exit: string, tail: string[], logFile: string | undefined) =>
    new QrunError([
      {
        code: 'TORCH_WORKER_FAILED',
        message:
          `torch worker ${method} ${exit} without a result` +
          (tail.length ? `\n  last lines of its stderr:\n${tail.map((l) => `    ${l}`).join('\n')}` : '') +
          (logFile ? `\n  full log: ${logFile}` : ''),
        hint: 'an exit by signal 9 is usually the out-of-memory killer; otherwise the log shows where Python stopped',
      },
    ]),
};
