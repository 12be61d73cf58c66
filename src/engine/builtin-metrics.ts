// The built-in plugins' metric declarations by plugin name, without loading the plugins (their
// declarations are plain data in plugins/<name>/metrics.ts): what `qrun compare`, the reports and the
// matrix read roles from. builtin-plugins.test.ts checks this table against the plugins themselves.
import { benchMetrics } from '../../plugins/bench/metrics.ts';
import { calibrateMetrics } from '../../plugins/calibrate/metrics.ts';
import { commandMetrics } from '../../plugins/command/metrics.ts';
import { hfLoadMetrics } from '../../plugins/hf-load/metrics.ts';
import { onnxExportMetrics } from '../../plugins/onnx-export/metrics.ts';
import { onnxSaveMetrics } from '../../plugins/onnx-save/metrics.ts';
import { patchMetrics } from '../../plugins/patch/metrics.ts';
import { qdqInsertMetrics } from '../../plugins/qdq-insert/metrics.ts';
import { sensitivityMetrics } from '../../plugins/sensitivity/metrics.ts';
import { torchCalibrateMetrics, torchExportMetrics, torchLoadMetrics, torchPatchMetrics, torchQatMetrics } from '../../plugins/torch/metrics.ts';
import { tritonMetrics } from '../../plugins/triton/metrics.ts';
import { trtexecMetrics } from '../../plugins/trtexec/metrics.ts';
import { weightQuantMetrics } from '../../plugins/weight-quant/metrics.ts';
import type { MetricCatalog } from './metrics.ts';
import type { MetricsDeclaration } from './plugin.ts';

export const BUILTIN_METRICS: Readonly<Record<string, MetricsDeclaration>> = {
  'hf.load': hfLoadMetrics,
  'onnx.export': onnxExportMetrics,
  patch: patchMetrics,
  'qdq.insert': qdqInsertMetrics,
  calibrate: calibrateMetrics,
  sensitivity: sensitivityMetrics,
  'onnx.save': onnxSaveMetrics,
  trtexec: trtexecMetrics,
  triton: tritonMetrics,
  bench: benchMetrics,
  command: commandMetrics,
  'weights.quantize': weightQuantMetrics,
  'torch.load': torchLoadMetrics,
  'torch.patch': torchPatchMetrics,
  'torch.calibrate': torchCalibrateMetrics,
  'torch.qat': torchQatMetrics,
  'torch.export': torchExportMetrics,
};

/** The catalog reports use by default: the built-ins' declarations. */
export const builtinMetricCatalog: MetricCatalog = (plugin) => (Object.hasOwn(BUILTIN_METRICS, plugin) ? BUILTIN_METRICS[plugin] : undefined);
