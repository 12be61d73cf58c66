// Reading Hugging Face safetensors checkpoints (single file or sharded) as float32 tensors.
export { Checkpoint, INDEX_FILE, SINGLE_FILE } from './checkpoint.ts';
export { SafetensorsFile, MAX_HEADER_BYTES, type TensorInfo } from './safetensors-file.ts';
export { halfToFloat, toFloat32 } from './dtype.ts';
export { safetensorsErrors } from './errors.ts';
