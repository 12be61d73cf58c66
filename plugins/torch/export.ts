// torch.export — the fake-quantized model to ONNX with QuantizeLinear/DequantizeLinear nodes
// (TorchScript exporter, opset ≥ 13, dynamic batch and sequence), laid out like qdq.insert's output:
// int8 per-channel weight initializers feeding MatMul/Gemm through DequantizeLinear, one activation
// Q/DQ pair per consumer. The worker checks that every scale is the calibrated amax / 127, and
// compares onnxruntime with torch on `verifyData` when onnxruntime is installed. The result is a
// qdq-model, so onnx.save, trtexec, triton and bench take it as they take the ONNX path's.
import type { Plugin } from '../../src/engine/plugin.ts';
import { runWorker, torchCpuKernels, torchFingerprint } from './common.ts';
import { torchExportMetrics } from './metrics.ts';

export interface TorchExportOptions {
  opset: number;
  verifyData: string;
}

const torchExport: Plugin<TorchExportOptions> = {
  name: 'torch.export',
  version: '1.0.0',
  description: 'Export the fake-quantized model to a QDQ ONNX model',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      opset: { type: 'integer', minimum: 13, maximum: 21, default: 17, description: 'ONNX opset of the exported model (13 is the first with per-channel QuantizeLinear)', examples: [19] },
      verifyData: { type: 'string', default: 'calibration', description: 'data set for the onnxruntime-vs-torch check; "" = none' },
    },
  },
  inputs: { state: { kind: 'torch-state' }, datasets: { kind: 'dataset', optional: true } },
  outputs: { model: { kind: 'qdq-model', path: 'model.onnx' } },
  metrics: torchExportMetrics,
  fingerprint: () => torchFingerprint({ extraPackages: ['onnx'] }),
  cpuKernels: torchCpuKernels,
  async run(options, inputs, _sources, ctx) {
    const verify = options.verifyData && inputs.datasets ? options.verifyData : null;
    const metrics = await runWorker(
      'export',
      { opset: options.opset, verifyData: verify, stateDir: inputs.state!.path, datasetsDir: inputs.datasets?.path ?? null, outDir: ctx.outDir },
      ctx,
      ['onnx'],
    );
    return { metrics };
  },
};

export default torchExport;
