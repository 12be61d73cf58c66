// Native ONNX export of Hugging Face encoder models (BERT, RoBERTa, XLM-RoBERTa, DistilBERT,
// ELECTRA) from config.json and safetensors weights.
export { exportEncoder, type ExportResult } from './export-encoder.ts';
export { parseEncoderConfig, taskFromArchitectures, SUPPORTED_MODEL_TYPES, type EncoderConfig, type ExportTask, type Family } from './encoder-config.ts';
export { CheckpointWeights, RandomWeights, candidateNames, type WeightSource } from './weight-source.ts';
export { GraphBuilder, IR_VERSION, OPSET } from './graph-builder.ts';
export type { ExportContext, ExportHead } from './layers.ts';
