// The key's fields: which steps carry the CPU kernel family, and what `qrun plan` says changed.
import { describe, expect, it } from 'vitest';
import { BUILTIN_PLUGINS } from '../engine/builtin-plugins.ts';
import { CodeClosures } from './code-closure.ts';
import { cacheKey, cpuDependence, cpuKernelsOf, explainKeyChange, KEY_FORMAT, type KeyMaterial } from './fingerprint.ts';

const closures = new CodeClosures();
const plugin = (name: string) => BUILTIN_PLUGINS.find((p) => p.name === name)!;
const dependence = (name: string, options: Record<string, unknown> = {}) => cpuDependence(plugin(name), options, closures.of(plugin(name).entry!));

describe('which steps carry the CPU kernel family', () => {
  it('the steps whose outputs come from onnxruntime\'s or PyTorch\'s numbers, and only those', () => {
    const dependent = BUILTIN_PLUGINS.filter((p) => dependence(p.name).dependent).map((p) => p.name).sort();
    expect(dependent).toEqual(['bench', 'calibrate', 'sensitivity', 'torch.calibrate', 'torch.export', 'torch.load', 'torch.patch', 'torch.qat']);
    expect(dependence('calibrate').why).toBe('its code loads onnxruntime-node');
    expect(dependence('torch.qat').why).toMatch(/PyTorch/);
  });

  it('a plugin that loads onnxruntime without computing with it says why; patch computes only for SmoothQuant', () => {
    expect(dependence('onnx.save')).toEqual({ dependent: false, why: expect.stringMatching(/only checks that the saved model loads/) });
    expect(dependence('patch', { rules: ['remove-identity'] }).dependent).toBe(false);
    expect(dependence('patch', { rules: [], smoothquant: { alpha: 0.5 } })).toEqual({ dependent: true, why: expect.stringMatching(/SmoothQuant/) });
    expect(dependence('qdq.insert')).toEqual({ dependent: false, why: 'its code loads no CPU kernel library' });
  });

  it('the family is the one of the CPU the key is computed for', () => {
    const env = { QRUN_CPUINFO_FILE: new URL('./fixtures/cpuinfo-xeon-broadwell-avx2.txt', import.meta.url).pathname };
    expect(cpuKernelsOf(plugin('calibrate'), {}, closures.of(plugin('calibrate').entry!), env)).toBe('x64/avx2');
    expect(cpuKernelsOf(plugin('hf.load'), {}, closures.of(plugin('hf.load').entry!), env)).toBeNull();
  });
});

describe('explainKeyChange', () => {
  const base: KeyMaterial = {
    plugin: 'calibrate',
    pluginVersion: '1.0.0',
    options: { method: 'percentile' },
    inputs: { model: 'a'.repeat(64) },
    sources: {},
    revisions: { model: 'acme/a@' + '1'.repeat(40) },
    fingerprint: { onnxruntime: '1.30.0' },
    code: { entry: 'plugins/calibrate/index.ts', files: { 'plugins/calibrate/index.ts': 'x', 'src/quant/range-collector.ts': 'y' } },
    packages: { 'onnxruntime-node': '1.30.0', protobufjs: '8.8.1' },
    runtime: { node: 'v20.19.0', platform: 'linux', arch: 'x64' },
    cpuKernels: 'x64/avx2',
    keyFormat: KEY_FORMAT,
  };
  const changed = (patch: Partial<KeyMaterial>) => explainKeyChange(base, { ...base, ...patch });

  it('names the plugin folder and the files of its code that changed', () => {
    expect(changed({ code: { ...base.code, files: { ...base.code.files, 'src/quant/range-collector.ts': 'z' } } })).toEqual(['code of plugins/calibrate changed (src/quant/range-collector.ts)']);
  });

  it('names each package whose installed version changed', () => {
    expect(changed({ packages: { 'onnxruntime-node': '1.31.0', protobufjs: '8.8.1', long: '5.3.2' } })).toEqual(['package long 5.3.2 now used', 'package onnxruntime-node 1.30.0 → 1.31.0']);
  });

  it('names Node, the platform, the CPU kernel family and the hub revision', () => {
    expect(changed({ runtime: { node: 'v22.11.0', platform: 'linux', arch: 'x64' } })).toEqual(['Node v20.19.0 on linux-x64 → Node v22.11.0 on linux-x64']);
    expect(changed({ cpuKernels: 'x64/avx512vnni' })).toEqual(['CPU kernels x64/avx2 → x64/avx512vnni']);
    expect(changed({ revisions: { model: 'acme/b@' + '2'.repeat(40) } })).toEqual(['revision of model changed (acme/a@11111 → acme/b@22222)']);
  });

  it('a key of the old layout is not compared field by field', () => {
    const old = { plugin: 'calibrate', options: {}, code: 'abc', keyFormat: 1 } as unknown as KeyMaterial;
    expect(explainKeyChange(old, base)).toEqual([`cache key format changed (1 → ${KEY_FORMAT})`]);
  });

  it('every field moves the key', () => {
    const keys = new Set([base, ...Object.keys(base).map((k) => ({ ...base, [k]: k === 'keyFormat' ? 99 : k === 'cpuKernels' ? null : { changed: k } }))].map((m) => cacheKey(m as KeyMaterial)));
    expect(keys.size).toBe(Object.keys(base).length + 1);
  });
});
