// Model files with ONNX external data as exporters lay them out — model.onnx_data packed as
// onnx.save_model writes it (Optimum), model.onnx.data with 64 KiB-aligned large tensors as onnx-ir
// writes it (torch.onnx's dynamo exporter), one file per tensor (all_tensors_to_one_file=False),
// nested relative paths — read back byte for byte, loaded by onnxruntime with the same outputs, and
// refused with a named error when a data file is missing, short, or outside the model's folder.
// Small thresholds (or a lowered single-file limit) stand in for 2 GiB models.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import ort from 'onnxruntime-node';
import { BERT_ONNX, writeLangidDatasets } from '../../tests/helpers/bert-langid.ts';
import { floatTensor, model, node, valueInfo } from '../../tests/helpers/onnx-build.ts';
import { artifact, stepContext, withDefaults } from '../../tests/helpers/step-context.ts';
import { seededRandom, useTempDir } from '../../tests/helpers/temp.ts';
import calibrate from '../../plugins/calibrate/index.ts';
import qdqInsert from '../../plugins/qdq-insert/index.ts';
import { QrunError } from '../errors.ts';
import { decodeModel, encodeModel } from '../onnx/model-io.ts';
import { makeFloatTensor } from '../onnx/tensor.ts';
import { DataType, type ModelProto } from '../onnx/types.ts';
import { knownDigest, sha256File } from '../util/hash.ts';
import {
  copyModelFile,
  digestModelFile,
  EXTERNAL,
  modelDataFiles,
  readModelGraph,
  readModelWithData,
  sessionModel,
  usesExternalData,
  writeModelFile,
} from './model-file.ts';
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

async function outputOf(path: string | Uint8Array): Promise<Float32Array> {
  const session = await createSession(path, { optimization: 'disabled' });
  const x = floatTensor(Array.from({ length: 128 }, (_, i) => Math.sin(i)), [2, 64]);
  const y = (await session.run({ x }))['y']!.data as Float32Array;
  await session.release();
  return Float32Array.from(y);
}

/** The QrunError `promise` rejects with (fails the test on anything else). */
async function qrunError(promise: Promise<unknown>): Promise<QrunError> {
  const e = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, `expected a QrunError, got ${String(e)}`).toBeInstanceOf(QrunError);
  return e as QrunError;
}

const fresh = (name: string) => {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  return dir;
};

describe('writeModelFile / readModelWithData', () => {
  it('external data: big initializers in model.onnx.data at 4096-aligned offsets, loadable by onnxruntime, read back byte-identical', async () => {
    const m = smallModel();
    const single = join(root, 'single.onnx');
    const split = join(fresh('split'), 'model.onnx');
    await writeModelFile(m, single);
    expect(existsSync(`${single}.data`)).toBe(false);
    const written = await writeModelFile(m, split, { externalData: 'always', threshold: 1024 });
    expect(written).toMatchObject({ externalTensors: 2, dataFile: `${split}.data`, dataFiles: ['model.onnx.data'] });
    expect(statSync(`${split}.data`).size).toBe(written.dataBytes);
    expect(written.dataBytes).toBe(8192 + 30 * 9 * 4); // w1 (7680 B) at 0, zero padding, w2 at the next 4096 boundary

    // The .onnx itself holds no weight bytes: location/offset/length instead, as IR.md defines.
    const header = decodeModel(readFileSync(split));
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
    const back = await readModelWithData(split);
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
});

// The shipped BERT (5.4 MB, 33 initializers ≥ 1 KiB) in each exporter's layout: the same model and
// the same numbers whatever the layout.
describe('external data as exporters write it', () => {
  const original = readFileSync(BERT_ONNX);
  const layouts: [name: string, opts: Parameters<typeof writeModelFile>[2], files: (dir: string) => string[]][] = [
    ['model.onnx_data, packed (onnx.save_model / Optimum)', { location: 'model.onnx_data', alignment: 1 }, () => ['model.onnx_data']],
    ['model.onnx.data, 64 KiB-aligned above 1 MiB (onnx-ir / torch.onnx dynamo)', { location: 'model.onnx.data', alignment: 65536, alignAbove: 2 ** 20 }, () => ['model.onnx.data']],
    ['one file per tensor, named after it (all_tensors_to_one_file=False)', { location: (t) => (t.name ?? '').replace(/[^\w.-]/g, '_') }, () => []],
    ['nested relative paths in two folders', { location: (t) => (t.name?.includes('embeddings') ? 'weights/embeddings.bin' : 'weights/layers/rest.bin') }, () => ['weights/embeddings.bin', 'weights/layers/rest.bin']],
  ];
  for (const [k, [name, opts, files]] of layouts.entries()) {
    it(`${name}: read back byte-identical, same onnxruntime outputs, copied and digested as a set`, async () => {
      const dir = fresh(`layout-${k}`);
      const file = join(dir, 'model.onnx');
      const w = await writeModelFile(await readModelGraph(BERT_ONNX), file, { externalData: 'always', threshold: 1024, ...opts });
      expect(w.externalTensors).toBe(33);
      if (files('').length) expect(w.dataFiles).toEqual(files(''));
      else expect(w.dataFiles.length).toBe(33);
      if (opts!.alignment === 65536) {
        // The 2 MB word embeddings are aligned; the 64 KiB matrices after it are packed.
        const offsets = decodeModel(readFileSync(file)).graph.initializer.filter((t) => t.externalData?.length).map((t) => [Number(t.externalData![2]!.value), Number(t.externalData![1]!.value)]);
        for (const [length, offset] of offsets) if (length! > 2 ** 20) expect(offset! % 65536).toBe(0);
        expect(offsets.some(([length, offset]) => length! <= 2 ** 20 && offset! % 4096 !== 0)).toBe(true);
      }
      expect(Buffer.from(encodeModel(await readModelWithData(file))).equals(original)).toBe(true);

      const session = await ort.InferenceSession.create(file);
      const ids = new ort.Tensor('int64', BigInt64Array.from([101n, 2023n, 2003n, 102n]), [1, 4]);
      const feeds = { input_ids: ids, attention_mask: new ort.Tensor('int64', BigInt64Array.from([1n, 1n, 1n, 1n]), [1, 4]), token_type_ids: new ort.Tensor('int64', new BigInt64Array(4), [1, 4]) };
      const fed = Object.fromEntries(Object.entries(feeds).filter(([k]) => session.inputNames.includes(k)));
      const got = (await session.run(fed))[session.outputNames[0]!]!.data;
      await session.release();
      const reference = await ort.InferenceSession.create(BERT_ONNX);
      expect(Array.from(got as Float32Array)).toEqual(Array.from((await reference.run(fed))[reference.outputNames[0]!]!.data as Float32Array));
      await reference.release();

      // A copy carries its data files to the same relative places; the digest covers them and does
      // not depend on the .onnx's own name.
      const copy = join(fresh(`layout-${k}-copy`), 'renamed.onnx');
      const locations = await copyModelFile(file, copy);
      expect(locations.length).toBe(w.dataFiles.length);
      expect((await digestModelFile(copy)).sha256).toBe((await digestModelFile(file)).sha256);
      expect((await digestModelFile(file)).sha256).not.toBe(await sha256File(file));
      const data = await modelDataFiles(file);
      const first = data[0]!.path;
      const bytes = readFileSync(first);
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
      writeFileSync(first, bytes);
      expect((await digestModelFile(copy)).sha256).not.toBe((await digestModelFile(file)).sha256);
    });
  }

  it('readModelGraph leaves tensors of 64 KiB or more in their files, and writeModelFile copies them from there', async () => {
    const graph = await readModelGraph(BERT_ONNX);
    const left = graph.graph.initializer.filter((t) => !(t.rawData instanceof Uint8Array));
    expect(left.length).toBe(27); // word and position embeddings, 24 encoder matrices, the pooler's
    expect(left.every((t) => t.dataLocation === EXTERNAL)).toBe(true);
    expect(usesExternalData(graph)).toBe(false); // spans of the .onnx itself, not external data
    const out = join(fresh('from-graph'), 'model.onnx');
    await writeModelFile(graph, out);
    expect(readFileSync(out).equals(original)).toBe(true);
    // onnxruntime takes a graph read this way from a path beside links to its files.
    const path = await sessionModel(graph, join(root, 'session-of-graph'));
    expect(typeof path).toBe('string');
    const session = await createSession(path);
    await session.release();
  });

  it('writeModelFile hashes every file as it writes it (padding and copied spans included): the engine digests them without reading them back', async () => {
    const own = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
    const cases: [string, Parameters<typeof writeModelFile>[2]][] = [
      ['single', {}],
      ['aligned', { externalData: 'always', threshold: 1024, alignment: 65536 }],
      ['per-tensor', { externalData: 'always', threshold: 1024, location: (t) => (t.name ?? '').replace(/[^\w.-]/g, '_') }],
    ];
    // From a graph read with readModelGraph, the big tensors are copied from BERT_ONNX block by block.
    for (const [name, opts] of cases) {
      for (const [source, m] of [['in memory', await readModelWithData(BERT_ONNX)], ['from its file', await readModelGraph(BERT_ONNX)]] as const) {
        const file = join(fresh(`hashed-${name}-${source.replace(/ /g, '-')}`), 'model.onnx');
        const w = await writeModelFile(m, file, opts);
        for (const f of [file, ...w.dataFiles.map((d) => join(file, '..', d))]) expect(await knownDigest(f), `${name}, ${source}: ${f}`).toBe(own(f));
      }
    }
  });

  it('a single-file model digests as its own sha256 (cache keys of single-file models do not change)', async () => {
    expect((await digestModelFile(BERT_ONNX)).sha256).toBe(await sha256File(BERT_ONNX));
  });
});

describe('a data file missing, short or outside the folder is an error naming the tensor and the file', () => {
  /** A folder with model.onnx whose w1 names `location` (and w2 model.onnx.data, which is there). */
  async function withLocation(name: string, location: string, setup: (dir: string) => void = () => {}): Promise<string> {
    const dir = fresh(name);
    const file = join(dir, 'model.onnx');
    await writeModelFile(smallModel(), file, { externalData: 'always' });
    const m = decodeModel(readFileSync(file));
    m.graph.initializer[0]!.externalData![0]!.value = location;
    writeFileSync(file, encodeModel(m));
    setup(dir);
    return file;
  }
  const readers = { readModelWithData, readModelGraph, modelDataFiles, digestModelFile };

  it('missing: EXTERNAL_DATA_MISSING', async () => {
    const file = await withLocation('missing', 'model.onnx_data');
    for (const read of Object.values(readers)) {
      const e = await qrunError(read(file));
      expect(e.code).toBe('EXTERNAL_DATA_MISSING');
      expect(e.message).toContain('tensor "w1"');
      expect(e.message).toContain('"model.onnx_data"');
      expect(e.message).toContain(file);
    }
  });

  it('truncated (offset + length past its end): EXTERNAL_DATA_TRUNCATED, before anything is read', async () => {
    const file = await withLocation('truncated', 'model.onnx.data', (dir) => truncateSync(join(dir, 'model.onnx.data'), 9000));
    const e = await qrunError(readModelWithData(file));
    expect(e.code).toBe('EXTERNAL_DATA_TRUNCATED');
    expect(e.message).toContain('tensor "w2"'); // at 8192 for 1080 bytes
    expect(e.message).toMatch(/8192–9272 of "model.onnx.data", which has only 9000 bytes/);
  });

  it('a length that is not what the shape takes: EXTERNAL_DATA_INVALID', async () => {
    const file = await withLocation('length', 'model.onnx.data');
    const m = decodeModel(readFileSync(file));
    m.graph.initializer[0]!.externalData![2]!.value = '100';
    writeFileSync(file, encodeModel(m));
    const e = await qrunError(readModelWithData(file));
    expect(e.code).toBe('EXTERNAL_DATA_INVALID');
    expect(e.message).toMatch(/tensor "w1".*length 100.*\[64, 30\].*7680 bytes/);
  });

  // A readable file of the right size (w1's 7680 bytes) outside the model folders: reading it would succeed.
  const secret = join(root, 'secret.bin');
  writeFileSync(secret, new Uint8Array(64 * 30 * 4));
  const outside: [string, string, (dir: string) => void, RegExp][] = [
    ['an absolute path', secret, () => {}, /an absolute path/],
    ['`..`', '../secret.bin', () => {}, /leaves the model's folder/],
    ['a folder name and `..` that still leave it', 'sub/../../secret.bin', () => {}, /leaves the model's folder/],
    ['a symbolic link to a file outside', 'link.bin', (dir) => symlinkSync(secret, join(dir, 'link.bin')), /a symbolic link to .*secret\.bin/],
    ['a link to a folder outside', 'up/secret.bin', (dir) => symlinkSync(root, join(dir, 'up')), /a symbolic link to .*secret\.bin/],
  ];
  for (const [k, [what, location, setup, why]] of outside.entries()) {
    it(`outside the folder through ${what}: EXTERNAL_DATA_OUTSIDE, as onnxruntime refuses it`, async () => {
      const file = await withLocation(`outside-${k}`, location, setup);
      for (const read of Object.values(readers)) {
        const e = await qrunError(read(file));
        expect(e.code).toBe('EXTERNAL_DATA_OUTSIDE');
        expect(e.message).toContain('tensor "w1"');
        expect(e.message).toContain(`"${location}"`);
        expect(e.message).toMatch(why);
      }
      // onnxruntime refuses the same model: qrun allows no more than it does.
      await expect(ort.InferenceSession.create(file)).rejects.toThrow(/External data path|Absolute path|escapes|does not exist/);
    });
  }

  it('a symbolic link inside the folder, and a Hugging Face hub snapshot linking into its blobs/, are followed', async () => {
    const inside = await withLocation('inside-link', 'alias.data', (dir) => symlinkSync('model.onnx.data', join(dir, 'alias.data')));
    expect((await modelDataFiles(inside)).map((f) => f.location)).toEqual(['alias.data', 'model.onnx.data']);
    expect(Array.from(await outputOf(encodeModel(await readModelWithData(inside)))).length).toBe(18);
    // models--org--name/snapshots/<commit>/onnx/model.onnx_data -> ../../../blobs/<sha>, as huggingface_hub lays it out.
    const repo = join(root, 'hub', 'models--org--bert');
    const snapshot = join(repo, 'snapshots', 'a'.repeat(40), 'onnx');
    mkdirSync(snapshot, { recursive: true });
    mkdirSync(join(repo, 'blobs'));
    const file = join(snapshot, 'model.onnx');
    await writeModelFile(smallModel(), file, { externalData: 'always', location: 'model.onnx_data' });
    copyFileSync(join(snapshot, 'model.onnx_data'), join(repo, 'blobs', 'f00d'));
    rmSync(join(snapshot, 'model.onnx_data'));
    symlinkSync('../../../blobs/f00d', join(snapshot, 'model.onnx_data'));
    expect((await modelDataFiles(file)).map((f) => f.location)).toEqual(['model.onnx_data']);
    const copy = join(fresh('hub-copy'), 'model.onnx');
    await copyModelFile(file, copy);
    expect(statSync(join(root, 'hub-copy', 'model.onnx_data')).isFile()).toBe(true);
    expect(Array.from(await outputOf(copy)).length).toBe(18);
  });
});

describe('qdq.insert and calibrate on an external-data model', () => {
  it('write the same QDQ model as from the single file', async () => {
    const datasets = await writeLangidDatasets(root, { calibration: 16 });
    const extPath = join(fresh('ext'), 'model.onnx');
    const w = await writeModelFile(await readModelWithData(BERT_ONNX), extPath, { externalData: 'always' });
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
