// Native ONNX export of causal LMs (GPT-2; Llama, Qwen2, Mistral) with a KV cache, from config.json
// and safetensors weights (or seeded random ones).
export { exportDecoder, DECODER_OPSET, DECODER_IR_VERSION, type DecoderExportResult } from './export-decoder.ts';
export { parseDecoderConfig, isDecoderConfig, decoderModelType, decoderConfigErrors, SUPPORTED_DECODER_TYPES, type DecoderConfig, type DecoderFamily } from './decoder-config.ts';
