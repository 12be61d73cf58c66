import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { largestShape, modelMaxSequence, resolveShapes } from './derive-shapes.ts';
import { parseGpuQuery, selectGpu } from './tool.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qrun-shapes-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('modelMaxSequence', () => {
  it('takes max_position_embeddings (or GPT-2 n_positions), capped by a real model_max_length', async () => {
    await writeFile(join(dir, 'config.json'), JSON.stringify({ max_position_embeddings: 128 }));
    expect(await modelMaxSequence(dir)).toEqual({ length: 128, from: 'config.json max_position_embeddings' });
    await writeFile(join(dir, 'config.json'), JSON.stringify({ n_positions: 1024 }));
    // transformers writes 1e30 for "no limit": it is not a length.
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 1e30 }));
    expect(await modelMaxSequence(dir)).toEqual({ length: 1024, from: 'config.json n_positions' });
  });

  it('falls back to 512 without a config or without a length in it', async () => {
    expect((await modelMaxSequence(undefined)).length).toBe(512);
    await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'vit' }));
    expect(await modelMaxSequence(dir)).toEqual({ length: 512, from: 'no length in config.json: 512' });
  });
});

describe('resolveShapes', () => {
  it('picks the largest bench shape by elements, the larger batch on a tie', () => {
    expect(largestShape([{ batch: 1, sequence: 128 }, { batch: 2, sequence: 64 }])).toEqual({ batch: 2, sequence: 64 });
    expect(largestShape([{ batch: 8, sequence: 128 }, { batch: 1, sequence: 32 }])).toEqual({ batch: 8, sequence: 128 });
  });

  it('keeps every point the recipe gives', () => {
    const given = { min: { batch: 1, sequence: 8 }, opt: { batch: 8, sequence: 64 }, max: { batch: 32, sequence: 128 } };
    const r = resolveShapes({ shapes: given, benchShapes: [{ batch: 64, sequence: 512 }], maxBatchSize: 2 }, { length: 9, from: 'x' });
    expect({ min: r.min, opt: r.opt, max: r.max }).toEqual(given);
    expect(r.origin).toEqual({ min: 'recipe', opt: 'recipe', max: 'recipe' });
  });
});

describe('nvidia-smi rows and the CUDA device', () => {
  it('reads nvidia-smi --query-gpu=index,uuid,name,compute_cap --format=csv,noheader as printed on an H100 (driver 580)', () => {
    expect(parseGpuQuery('0, GPU-b445e510-d6a9-df22-1365-9df0d096077a, NVIDIA H100 80GB HBM3, 9.0\n')).toEqual([
      { index: 0, uuid: 'GPU-b445e510-d6a9-df22-1365-9df0d096077a', name: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0' },
    ]);
  });

  const rows = parseGpuQuery('0, GPU-aaa, NVIDIA H100 80GB HBM3, 9.0\n1, GPU-bbb, NVIDIA L4, 8.9\n2, GPU-ccc, Tesla T4, [N/A]\n');

  it('parses the CSV rows, leaving out a compute capability the driver does not know', () => {
    expect(rows).toEqual([
      { index: 0, uuid: 'GPU-aaa', name: 'NVIDIA H100 80GB HBM3', computeCapability: '9.0' },
      { index: 1, uuid: 'GPU-bbb', name: 'NVIDIA L4', computeCapability: '8.9' },
      { index: 2, uuid: 'GPU-ccc', name: 'Tesla T4' },
    ]);
  });

  it('is sure of the device only where CUDA and nvidia-smi agree on the numbering', () => {
    expect(selectGpu(rows, 1, {})).toEqual({ gpu: rows[1], sure: false });
    expect(selectGpu(rows, 1, { CUDA_DEVICE_ORDER: 'PCI_BUS_ID' })).toEqual({ gpu: rows[1], sure: true });
    expect(selectGpu(rows, 0, { CUDA_VISIBLE_DEVICES: '2,0', CUDA_DEVICE_ORDER: 'PCI_BUS_ID' })).toEqual({ gpu: rows[2], sure: true });
    expect(selectGpu(rows, 0, { CUDA_VISIBLE_DEVICES: 'GPU-bbb' })).toEqual({ gpu: rows[1], sure: true });
    expect(selectGpu(rows, 3, { CUDA_VISIBLE_DEVICES: '0' })).toEqual({ sure: false });
    expect(selectGpu([rows[0]!, { ...rows[0]!, index: 1, uuid: 'GPU-ddd' }], 1, {})).toMatchObject({ sure: true });
  });
});
