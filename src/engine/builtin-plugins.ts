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
import { TORCH_PLUGINS } from '../../plugins/torch/index.ts';
import type { Plugin } from './plugin.ts';
import { PluginRegistry } from './registry.ts';

export const BUILTIN_PLUGINS = [hfLoad, onnxExport, patch, qdqInsert, calibrate, sensitivity, onnxSave, trtexec, triton, bench, command, ...TORCH_PLUGINS] as unknown as Plugin[];

export function builtinRegistry(): PluginRegistry {
  const registry = new PluginRegistry();
  for (const p of BUILTIN_PLUGINS) registry.register(p);
  return registry;
}
