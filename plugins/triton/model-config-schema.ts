// A subset of Triton's ModelConfig message (package `inference`), written for qrun from the field
// list documented in model_config.proto of triton-inference-server/common: only the messages and
// fields qrun writes, with their documented names, types and numbers. Parsing a generated
// config.pbtxt against it with protobufjs's text-format reader proves that every field name, enum
// value and nesting is one the real schema has, as Triton's own parser would see it.
import protobuf from 'protobufjs';
import textformat from 'protobufjs/ext/textformat.js';

const field = (id: number, type: string, repeated = false) => (repeated ? { id, type, rule: 'repeated' } : { id, type });

const definition = {
  nested: {
    inference: {
      nested: {
        DataType: {
          values: {
            TYPE_INVALID: 0, TYPE_BOOL: 1, TYPE_UINT8: 2, TYPE_UINT16: 3, TYPE_UINT32: 4, TYPE_UINT64: 5, TYPE_INT8: 6,
            TYPE_INT16: 7, TYPE_INT32: 8, TYPE_INT64: 9, TYPE_FP16: 10, TYPE_FP32: 11, TYPE_FP64: 12, TYPE_STRING: 13, TYPE_BF16: 14,
          },
        },
        ModelTensorReshape: { fields: { shape: field(1, 'int64', true) } },
        ModelInput: {
          fields: { name: field(1, 'string'), data_type: field(2, 'DataType'), dims: field(4, 'int64', true), reshape: field(5, 'ModelTensorReshape') },
        },
        ModelOutput: {
          fields: {
            name: field(1, 'string'),
            data_type: field(2, 'DataType'),
            dims: field(3, 'int64', true),
            label_filename: field(4, 'string'),
            reshape: field(5, 'ModelTensorReshape'),
          },
        },
        ModelInstanceGroup: {
          nested: { Kind: { values: { KIND_AUTO: 0, KIND_GPU: 1, KIND_CPU: 2, KIND_MODEL: 3 } } },
          fields: { name: field(1, 'string'), kind: field(4, 'Kind'), count: field(2, 'int32'), gpus: field(3, 'int32', true) },
        },
        ModelDynamicBatching: {
          fields: { preferred_batch_size: field(1, 'int32', true), max_queue_delay_microseconds: field(2, 'uint64') },
        },
        ModelOptimizationPolicy: {
          nested: {
            Graph: { fields: { level: field(1, 'int32') } },
            ExecutionAccelerators: {
              nested: { Accelerator: { fields: { name: field(1, 'string'), parameters: { id: 2, keyType: 'string', type: 'string' } } } },
              fields: { gpu_execution_accelerator: field(1, 'Accelerator', true), cpu_execution_accelerator: field(2, 'Accelerator', true) },
            },
          },
          fields: { graph: field(1, 'Graph'), execution_accelerators: field(4, 'ExecutionAccelerators') },
        },
        ModelEnsembling: {
          nested: {
            Step: {
              fields: {
                model_name: field(1, 'string'),
                model_version: field(2, 'int64'),
                input_map: { id: 3, keyType: 'string', type: 'string' },
                output_map: { id: 4, keyType: 'string', type: 'string' },
              },
            },
          },
          fields: { step: field(1, 'Step', true) },
        },
        ModelParameter: { fields: { string_value: field(1, 'string') } },
        ModelConfig: {
          oneofs: { scheduling_choice: { oneof: ['dynamic_batching', 'ensemble_scheduling'] } },
          fields: {
            name: field(1, 'string'),
            platform: field(2, 'string'),
            backend: field(17, 'string'),
            max_batch_size: field(4, 'int32'),
            input: field(5, 'ModelInput', true),
            output: field(6, 'ModelOutput', true),
            optimization: field(12, 'ModelOptimizationPolicy'),
            dynamic_batching: field(11, 'ModelDynamicBatching'),
            ensemble_scheduling: field(15, 'ModelEnsembling'),
            instance_group: field(7, 'ModelInstanceGroup', true),
            parameters: { id: 14, keyType: 'string', type: 'ModelParameter' },
          },
        },
      },
    },
  },
};

const ModelConfigType = protobuf.Root.fromJSON(definition).lookupType('inference.ModelConfig');

/**
 * Parses config.pbtxt text into a plain object (snake_case field names, enums as their names,
 * int64 as numbers, defaults left out). Throws on any name or value the schema does not have.
 */
export function parseModelConfigText(text: string): Record<string, unknown> {
  const message = textformat.fromText(ModelConfigType, text);
  return ModelConfigType.toObject(message, { enums: String, longs: Number });
}
