// ONNX external data without a 2 GiB file: a small threshold (or a lowered single-file limit) forces
// initializers into model.onnx.data; onnxruntime loads the pair from its path with the same outputs,
// readModelFile gives back the single-file model byte for byte, and qdq.insert + calibrate on an
// external-data BERT write the same model as on the single file.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import ort from 'onnxruntime-node';
import { BERT_ONNX, writeLangidDatasets } from '../../tests/helpers/bert-langid.ts';
import { floatTensor, model, node, valueInfo } from '../../tests/helpers/onnx-build.ts';
import { artifact, stepContext, withDefaults } from '../../tests/helpers/step-context.ts';
import { seededRandom, useTempDir } from '../../tests/helpers/temp.ts';
import calibrate from '../../plugins/calibrate/index.ts';
import qdqInsert from '../../plugins/qdq-insert/index.ts';
import { decodeModel, encodeModel, readModel } from '../onnx/model-io.ts';
import { makeFloatTensor } from '../onnx/tensor.ts';
import { DataType, type ModelProto } from '../onnx/types.ts';
import { EXTERNAL, readModelFile, usesExternalData, writeModelFile } from './model-file.ts';
import { createSession } from './session.ts';

const root = useTempDir();
const rand = seededRandom(3);

/** x [2, 64] · W1 [64, 30] + b (120 B) → · W2 [30, 9]: two weights above 1 KiB, one bias below. */
function smallModel(): ModelProto {
  const w = (name: string, dims: number[]) => makeFloatTensor(name, dims, Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rand() - 0.5));
  return model({
    nodes: [node('MatMul', ['x', 'w1'], ['h'], 'mm1'), node('Add', ['h', 'b'], ['hb'], 'add'), node('MatMul', ['hb', 'w2'], ['y'], 'mm2')],
    inputs: [valueInfo('x', DataType.FLOAT, [2, 64])],
    outputs: [valueInfo('y', DataType.FLOAT, [2, 9])],
    initializers: [w('w1', [64, 30]), w('b', [30]), w('w2', [30, 9])],
  });
}

async function outputOf(path: string): Promise<Float32Array> {
  const session = await createSession(path, { optimization: 'disabled' });
  const x = floatTensor(Array.from({ length: 128 }, (_, i) => Math.sin(i)), [2, 64]);
  const y = (await session.run({ x }))['y']!.data as Float32Array;
  await session.release();
  return Float32Array.from(y);
}

describe('writeModelFile / readModelFile', () => {
  it('external data: big initializers in model.onnx.data at 4096-aligned offsets, loadable by onnxruntime, read back byte-identical', async () => {
    const m = smallModel();
    const single = join(root, 'single.onnx');
    const split = join(root, 'split', 'model.onnx');
    await writeModelFile(m, single);
    expect(existsSync(`${single}.data`)).toBe(false);
    mkdirSync(join(root, 'split'));
    const written = await writeModelFile(m, split, { externalData: 'always', threshold: 1024 });
    expect(written).toMatchObject({ externalTensors: 2, dataFile: `${split}.data` });
    expect(statSync(`${split}.data`).size).toBe(written.dataBytes);
    expect(written.dataBytes).toBe(8192 + 30 * 9 * 4); // w1 (7680 B) at 0, zero padding, w2 at the next 4096 boundary

    // The .onnx itself holds no weight bytes: location/offset/length instead, as IR.md defines.
    const header = await readModel(split);
    const [w1, b, w2] = header.graph.initializer;
    expect(w1!.dataLocation).toBe(EXTERNAL);
    expect(w1!.rawData?.byteLength ?? 0).toBe(0);
    expect(w1!.externalData).toEqual([
      { key: 'location', value: 'model.onnx.data' },
      { key: 'offset', value: '0' },
      { key: 'length', value: String(64 * 30 * 4) },
    ]);
    expect(w2!.externalData![1]).toEqual({ key: 'offset', value: '8192' });
    expect(b!.externalData ?? []).toEqual([]); // 120 bytes: under the threshold, stays inline
    expect(usesExternalData(header)).toBe(true);

    // The caller's model is untouched, onnxruntime computes the same, and reading resolves the data.
    expect(m.graph.initializer[0]!.rawData!.byteLength).toBe(7680);
    expect(Array.from(await outputOf(split))).toEqual(Array.from(await outputOf(single)));
    const back = await readModelFile(split);
    expect(usesExternalData(back)).toBe(false);
    expect(Buffer.from(encodeModel(back)).equals(readFileSync(single))).toBe(true);
  });

  it('auto: one file below the limit, external data above it (limit lowered instead of writing 2 GiB)', async () => {
    const m = smallModel();
    const a = await writeModelFile(m, join(root, 'a.onnx'), { limit: 2 ** 30 });
    expect(a.externalTensors).toBe(0);
    const b = await writeModelFile(m, join(root, 'b.onnx'), { limit: 64 * 2 ** 20 + 1000 });
    expect(b.externalTensors).toBe(2);
    expect(existsSync(join(root, 'b.onnx.data'))).toBe(true);
  });

  it('refuses a location outside the model folder and a data file that is too short', async () => {
    const m = decodeModel(encodeModel(smallModel()));
    const t = m.graph.initializer[0]!;
    delete t.rawData;
    t.dataLocation = EXTERNAL;
    t.externalData = [{ key: 'location', value: '../escape.bin' }];
    writeFileSync(join(root, 'bad.onnx'), encodeModel(m));
    await expect(readModelFile(join(root, 'bad.onnx'))).rejects.toThrow(/outside the model's folder/);
    t.externalData = [
      { key: 'location', value: 'short.bin' },
      { key: 'length', value: '8192' },
    ];
    writeFileSync(join(root, 'short.bin'), new Uint8Array(100));
    writeFileSync(join(root, 'short.onnx'), encodeModel(m));
    await expect(readModelFile(join(root, 'short.onnx'))).rejects.toThrow(/ends before the 8192 bytes/);
  });
});

describe('qdq.insert and calibrate on an external-data model', () => {
  it('write the same QDQ model as from the single file', async () => {
    const datasets = await writeLangidDatasets(root, { calibration: 16 });
    mkdirSync(join(root, 'ext'));
    const extPath = join(root, 'ext', 'model.onnx');
    const w = await writeModelFile(await readModel(BERT_ONNX), extPath, { externalData: 'always' });
    expect(w.externalTensors).toBeGreaterThan(20);

    const pipeline = async (fp32: string, tag: string) => {
      const q = stepContext(root, `qdq-${tag}`);
      await qdqInsert.run(withDefaults(qdqInsert, {}), { model: artifact('onnx-model', fp32) }, {}, q);
      const c = stepContext(root, `calibrate-${tag}`);
      await calibrate.run(
        withDefaults(calibrate, { method: 'percentile' }),
        { model: artifact('qdq-model', join(q.outDir, 'model.onnx')), float: artifact('onnx-model', fp32), datasets: artifact('dataset', datasets) },
        {},
        c,
      );
      return { qdq: readFileSync(join(q.outDir, 'model.onnx')), calibrated: readFileSync(join(c.outDir, 'model.onnx')), out: c.outDir };
    };
    const single = await pipeline(BERT_ONNX, 'single');
    const external = await pipeline(extPath, 'external');
    expect(external.qdq.equals(single.qdq)).toBe(true);
    expect(external.calibrated.equals(single.calibrated)).toBe(true);
    // The INT8 model fits in one file again: no side file next to it.
    expect(existsSync(join(external.out, 'model.onnx.data'))).toBe(false);
    const session = await ort.InferenceSession.create(join(external.out, 'model.onnx'));
    await session.release();
  });
});
