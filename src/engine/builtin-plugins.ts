import { join } from 'node:path';
import hfLoad from '../../plugins/hf-load/index.ts';
import onnxExport from '../../plugins/onnx-export/index.ts';
import patch from '../../plugins/patch/index.ts';
import qdqInsert from '../../plugins/qdq-insert/index.ts';
import calibrate from '../../plugins/calibrate/index.ts';
import sensitivity from '../../plugins/sensitivity/index.ts';
import onnxSave from '../../plugins/onnx-save/index.ts';
import trtexec from '../../plugins/trtexec/index.ts';
import triton from '../../plugins/triton/index.ts';
import bench from '../../plugins/bench/index.ts';
import command from '../../plugins/command/index.ts';
import weightQuant from '../../plugins/weight-quant/index.ts';
import { torchCalibrate, torchExport, torchLoad, torchPatch, torchQat } from '../../plugins/torch/index.ts';
import { QRUN_ROOT } from '../cache/code-closure.ts';
import type { Plugin } from './plugin.ts';
import { PluginRegistry } from './registry.ts';

/**
 * Each built-in plugin and the module whose default export it is: the engine keys a plugin on that
 * module's import closure (src/cache/code-closure.ts). builtin-plugins.test.ts checks each pair.
 */
const BUILTINS: [unknown, string][] = [
  [hfLoad, 'plugins/hf-load/index.ts'],
  [onnxExport, 'plugins/onnx-export/index.ts'],
  [patch, 'plugins/patch/index.ts'],
  [qdqInsert, 'plugins/qdq-insert/index.ts'],
  [calibrate, 'plugins/calibrate/index.ts'],
  [sensitivity, 'plugins/sensitivity/index.ts'],
  [onnxSave, 'plugins/onnx-save/index.ts'],
  [trtexec, 'plugins/trtexec/index.ts'],
  [triton, 'plugins/triton/index.ts'],
  [bench, 'plugins/bench/index.ts'],
  [command, 'plugins/command/index.ts'],
  [weightQuant, 'plugins/weight-quant/index.ts'],
  [torchLoad, 'plugins/torch/load.ts'],
  [torchPatch, 'plugins/torch/patch.ts'],
  [torchCalibrate, 'plugins/torch/calibrate.ts'],
  [torchQat, 'plugins/torch/qat.ts'],
  [torchExport, 'plugins/torch/export.ts'],
];

export const BUILTIN_PLUGINS: Plugin[] = BUILTINS.map(([p, file]) => ({ ...(p as Plugin), entry: join(QRUN_ROOT, file) }));

export function builtinRegistry(): PluginRegistry {
  const registry = new PluginRegistry();
  for (const p of BUILTIN_PLUGINS) registry.register(p);
  return registry;
}
