// Writes the job's inputs (run here, where Node is; the device has none): the native export of each
// tests/fixtures/decoders/<name> as onnx/<name>.onnx beside a copy of its reference.json, for
// check_onnx.py to run through the onnx checker (full, strict shape inference) and onnxruntime's
// Python API. Not committed (regenerate: npx tsx scripts/device/jobs/g2-decoders/export-inputs.ts).
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeModel } from '../../../../src/onnx/model-io.ts';
import { Checkpoint } from '../../../../src/safetensors/index.ts';
import { exportDecoder, parseDecoderConfig } from '../../../../src/export/decoder/index.ts';
import { CheckpointWeights } from '../../../../src/export/weight-source.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const fixtures = fileURLToPath(new URL('../../../../tests/fixtures/decoders', import.meta.url));
mkdirSync(join(here, 'onnx'), { recursive: true });
for (const name of ['gpt2-tiny', 'llama-tiny', 'qwen2-tiny']) {
  const dir = join(fixtures, name);
  const cfg = parseDecoderConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>, join(dir, 'config.json'));
  const checkpoint = await Checkpoint.open(dir);
  const { model } = await exportDecoder(cfg, new CheckpointWeights(checkpoint));
  await checkpoint.close();
  writeFileSync(join(here, 'onnx', `${name}.onnx`), encodeModel(model));
  copyFileSync(join(dir, 'reference.json'), join(here, 'onnx', `${name}.reference.json`));
  console.log(name);
}
