import { describe, expect, it } from 'vitest';
import { QrunError } from '../../src/errors.ts';
import { DataType } from '../../src/onnx/types.ts';
import { tensorInfo, tinyClassifier } from '../trtexec/testing/tiny-onnx.ts';
import { buildModelConfig, tensorConfig } from './model-config.ts';
import { parseModelConfigText } from './model-config-schema.ts';
import { withDefaults, type TritonOptions } from './options.ts';
import { formatModelConfig, quote } from './pbtxt.ts';

const pbtxt = (options: Partial<TritonOptions> = {}, runtime: 'onnxruntime' | 'tensorrt' = 'onnxruntime', model = tinyClassifier()) =>
  formatModelConfig(buildModelConfig(model, { name: 'bert', runtime }, withDefaults(options)));

describe('config.pbtxt from the ONNX graph', () => {
  it('writes names, TYPE_*, batch-less dims and the defaults for the onnxruntime backend', () => {
    expect(pbtxt()).toBe(`name: "bert"
backend: "onnxruntime"
max_batch_size: 8
input [
  {
    name: "input_ids"
    data_type: TYPE_INT64
    dims: [ -1 ]
  },
  {
    name: "attention_mask"
    data_type: TYPE_INT64
    dims: [ -1 ]
  }
]
output [
  {
    name: "logits"
    data_type: TYPE_FP32
    dims: [ 2 ]
  }
]
dynamic_batching {
  max_queue_delay_microseconds: 100
}
instance_group [
  {
    count: 1
    kind: KIND_GPU
  }
]
`);
  });

  it('keeps full shapes and writes no dynamic_batching with max_batch_size 0', () => {
    const text = pbtxt({ maxBatchSize: 0, instanceGroup: { count: 2, kind: 'KIND_CPU' } });
    expect(text).toContain('max_batch_size: 0\n');
    expect(text).toContain('    name: "input_ids"\n    data_type: TYPE_INT64\n    dims: [ -1, -1 ]\n');
    expect(text).toContain('    name: "logits"\n    data_type: TYPE_FP32\n    dims: [ -1, 2 ]\n');
    expect(text).not.toContain('dynamic_batching');
    expect(text).toContain('    count: 2\n    kind: KIND_CPU\n');
  });

  it('writes the tensorrt_plan model on the GPU whatever the ONNX instances are', () => {
    const text = pbtxt({ instanceGroup: { count: 2, kind: 'KIND_CPU' }, tensorrtAccelerator: { precisionMode: 'INT8' } }, 'tensorrt');
    expect(text.startsWith('name: "bert"\nplatform: "tensorrt_plan"\nmax_batch_size: 8\n')).toBe(true);
    expect(text).not.toContain('backend');
    expect(text).not.toContain('optimization'); // the EP accelerator is for the onnxruntime backend only
    expect(text).toContain('    count: 2\n    kind: KIND_GPU\n');
  });

  it('writes preferred batch sizes in order and the TensorRT execution provider with sorted parameters', () => {
    const text = pbtxt({
      dynamicBatching: { preferredBatchSize: [8, 4], maxQueueDelayMicroseconds: 500 },
      tensorrtAccelerator: { precisionMode: 'INT8', maxWorkspaceSizeBytes: 1 << 30 },
    });
    expect(text).toContain(`optimization {
  execution_accelerators {
    gpu_execution_accelerator [
      {
        name: "tensorrt"
        parameters {
          key: "max_workspace_size_bytes"
          value: "1073741824"
        }
        parameters {
          key: "precision_mode"
          value: "INT8"
        }
      }
    ]
  }
}
dynamic_batching {
  preferred_batch_size: [ 4, 8 ]
  max_queue_delay_microseconds: 500
}
`);
  });

  it('parses back through the ModelConfig schema to the same content', () => {
    const text = pbtxt({ dynamicBatching: { preferredBatchSize: [2], maxQueueDelayMicroseconds: 50 }, tensorrtAccelerator: { precisionMode: 'FP16' } });
    expect(parseModelConfigText(text)).toEqual({
      name: 'bert',
      backend: 'onnxruntime',
      max_batch_size: 8,
      input: [
        { name: 'input_ids', data_type: 'TYPE_INT64', dims: [-1] },
        { name: 'attention_mask', data_type: 'TYPE_INT64', dims: [-1] },
      ],
      output: [{ name: 'logits', data_type: 'TYPE_FP32', dims: [2] }],
      optimization: { execution_accelerators: { gpu_execution_accelerator: [{ name: 'tensorrt', parameters: { precision_mode: 'FP16' } }] } },
      dynamic_batching: { preferred_batch_size: [2], max_queue_delay_microseconds: 50 },
      instance_group: [{ count: 1, kind: 'KIND_GPU' }],
    });
  });

  it('refuses text that is not a ModelConfig', () => {
    expect(() => parseModelConfigText('name: "m"\nmax_batch: 8\n')).toThrow(/unknown field 'max_batch'/);
    expect(() => parseModelConfigText('input [ { data_type: INT64 } ]')).toThrow(/enum value expected/);
  });
});

describe('tensorConfig', () => {
  it('maps ONNX types to Triton types', () => {
    const cases: [number, string][] = [
      [DataType.FLOAT16, 'TYPE_FP16'],
      [DataType.BFLOAT16, 'TYPE_BF16'],
      [DataType.INT32, 'TYPE_INT32'],
      [DataType.INT8, 'TYPE_INT8'],
      [DataType.UINT8, 'TYPE_UINT8'],
      [DataType.BOOL, 'TYPE_BOOL'],
      [DataType.DOUBLE, 'TYPE_FP64'],
      [DataType.STRING, 'TYPE_STRING'],
    ];
    for (const [onnx, triton] of cases) expect(tensorConfig(tensorInfo('t', onnx, ['b', 3]), 8).dataType).toBe(triton);
  });

  it('writes dims [ 1 ] with an empty reshape for a tensor that is only the batch axis', () => {
    expect(tensorConfig(tensorInfo('label', DataType.INT64, ['batch']), 8)).toEqual({ name: 'label', dataType: 'TYPE_INT64', dims: [1], reshape: { shape: [] } });
    const model = tinyClassifier();
    model.graph.output.push(tensorInfo('label', DataType.INT64, ['batch']));
    const text = pbtxt({}, 'onnxruntime', model);
    expect(text).toContain('    name: "label"\n    data_type: TYPE_INT64\n    dims: [ 1 ]\n    reshape {\n      shape: [ ]\n    }\n');
    expect((parseModelConfigText(text).output as unknown[])[1]).toEqual({ name: 'label', data_type: 'TYPE_INT64', dims: [1], reshape: {} });
  });

  it('refuses to batch a tensor whose first axis is fixed, and says how to fix it', () => {
    const err = (() => {
      try {
        tensorConfig(tensorInfo('pixel_values', DataType.FLOAT, [1, 3, 224, 224]), 8);
      } catch (e) {
        return e as QrunError;
      }
    })();
    expect(err?.code).toBe('TRITON_NOT_BATCHABLE');
    expect(err?.message).toContain('"pixel_values" has shape [1, 3, 224, 224]');
    expect(err?.diagnostics[0]?.hint).toContain('maxBatchSize: 0');
    expect(tensorConfig(tensorInfo('pixel_values', DataType.FLOAT, [1, 3, 224, 224]), 0).dims).toEqual([1, 3, 224, 224]);
  });

  it('refuses tensors without a shape or with a type Triton lacks', () => {
    expect(() => tensorConfig({ name: 'x', type: { tensorType: { elemType: DataType.FLOAT } } }, 8)).toThrow(/"x" has no shape/);
    expect(() => tensorConfig(tensorInfo('c', 14, ['b']), 8)).toThrow(/"c" has ONNX type #14/);
  });

  it('refuses preferred batch sizes above max_batch_size', () => {
    expect(() => pbtxt({ maxBatchSize: 4, dynamicBatching: { preferredBatchSize: [2, 8], maxQueueDelayMicroseconds: 0 } })).toThrow(/\[2, 8\] has sizes above maxBatchSize 4/);
  });
});

describe('quote', () => {
  it('escapes what text format needs escaped and keeps UTF-8', () => {
    expect(quote('a"b\\c\nd\x01é')).toBe('"a\\"b\\\\c\\nd\\001é"');
    expect(parseModelConfigText(`name: ${quote('a"b\\c\nd\x01é')}`).name).toBe('a"b\\c\nd\x01é');
  });
});
