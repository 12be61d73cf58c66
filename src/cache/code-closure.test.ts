// A plugin is keyed on the code it imports and the packages that code loads, not on all of qrun.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUILTIN_PLUGINS } from '../engine/builtin-plugins.ts';
import { useTempDir } from '../../tests/helpers/temp.ts';
import { CodeClosures, packageNameOf, scanModule } from './code-closure.ts';

const closures = new CodeClosures();
const closureOf = (name: string) => {
  const p = BUILTIN_PLUGINS.find((x) => x.name === name)!;
  return closures.of(p.entry!);
};

describe('scanModule', () => {
  it('finds what runs: static, re-exported, side-effect, dynamic and required modules, and files named beside the code', () => {
    const refs = scanModule(`// a comment: import x from './not-at-line-start' is not an import
import { a,
  b as c } from './multi-line.ts';
import type { T } from './types-only.ts';
import d, { type U } from "./default.ts";
export * from './reexport.ts';
export type { V } from './type-reexport.ts';
export { e } from 'some-package/sub';
import './side-effect.ts';
import * as ort from 'onnxruntime-node';
const later = await import('./dynamic.ts');
const cjs = require('@scope/pkg');
const computed = await import(name);
export const text = 'import y from "./in-a-string"';
const WORKER = fileURLToPath(new URL('./worker', import.meta.url));
`);
    expect(refs.imports.sort()).toEqual(['./default.ts', './dynamic.ts', './multi-line.ts', './reexport.ts', './side-effect.ts', '@scope/pkg', 'onnxruntime-node', 'some-package/sub'].sort());
    expect(refs.assets).toEqual(['./worker']);
  });

  it('names packages as npm does; relative paths and Node builtins are not packages', () => {
    expect(packageNameOf('@huggingface/tokenizers')).toBe('@huggingface/tokenizers');
    expect(packageNameOf('@scope/pkg/deep/file.js')).toBe('@scope/pkg');
    expect(packageNameOf('protobufjs/minimal.js')).toBe('protobufjs');
    expect(packageNameOf('node:fs')).toBeUndefined();
    expect(packageNameOf('fs/promises')).toBeUndefined();
    expect(packageNameOf('./x.ts')).toBeUndefined();
  });
});

describe('closures of the built-in plugins', () => {
  it('onnx.export holds the exporter, hf.load does not: editing the exporter leaves hf.load alone', () => {
    const exporter = Object.keys(closureOf('onnx.export').files);
    const load = Object.keys(closureOf('hf.load').files);
    expect(exporter).toEqual(expect.arrayContaining(['plugins/onnx-export/index.ts', 'src/export/bert.ts', 'src/safetensors/safetensors-file.ts']));
    expect(load).toEqual(expect.arrayContaining(['plugins/hf-load/index.ts', 'src/data/tokenizer.ts', 'src/onnx/model-io.ts']));
    expect(load.filter((f) => f.startsWith('src/export/') || f.startsWith('plugins/onnx-export/'))).toEqual([]);
    // Nothing of the engine, the commands or the reports, and no test file.
    for (const f of [...exporter, ...load]) expect(f).not.toMatch(/^src\/(engine|commands|report|cache)\/|\.test\.ts$/);
  });

  it('holds the packages each plugin loads, with their installed versions and their own dependencies', () => {
    const calibrate = closureOf('calibrate').packages;
    expect(calibrate['onnxruntime-node']).toMatch(/^\d+\.\d+\.\d+/);
    expect(calibrate['onnxruntime-common']).toBe(calibrate['onnxruntime-node']); // loaded by onnxruntime-node
    expect(calibrate.protobufjs).toMatch(/^\d+\.\d+\.\d+/);
    expect(closureOf('hf.load').packages).toHaveProperty('@huggingface/tokenizers');
    expect(closureOf('hf.load').packages).not.toHaveProperty('onnxruntime-node');
    expect(closureOf('qdq.insert').packages).not.toHaveProperty('onnxruntime-node');
    expect(closureOf('command').packages).toHaveProperty('execa');
    expect(closureOf('command').packages).not.toHaveProperty('protobufjs');
    // patch loads onnxruntime (for SmoothQuant), onnx.save to check the model loads.
    expect(closureOf('patch').packages).toHaveProperty('onnxruntime-node');
    expect(closureOf('onnx.save').packages).toHaveProperty('onnxruntime-node');
  });

  it('holds the files the code names beside itself: the torch worker\'s Python, triton\'s model.py', () => {
    const torch = Object.keys(closureOf('torch.calibrate').files);
    expect(torch).toEqual(expect.arrayContaining(['plugins/torch/worker/qrun_worker/quant.py', 'plugins/torch/worker/qrun_worker/rules.json']));
    expect(torch.filter((f) => f.includes('/tests/') || f.includes('__pycache__'))).toEqual([]);
    expect(Object.keys(closureOf('triton').files)).toContain('plugins/triton/python/model.py');
  });
});

describe('closures in a project of their own', () => {
  const root = useTempDir();
  let n = 0;
  const write = (dir: string, rel: string, text: string) => {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  };
  function project(ortVersion: string): string {
    const dir = join(root, `p${n++}`);
    write(dir, 'plugins/a/index.ts', "import { shared } from '../../src/shared.ts';\nimport { onlyA } from '../../src/only-a.js';\nimport * as ort from 'fake-ort';\nexport default {};\n");
    write(dir, 'plugins/b/index.ts', "export { shared } from '../../src/shared.ts';\nimport { stat } from 'node:fs';\nimport missing from 'not-installed';\n");
    write(dir, 'src/shared.ts', 'export const shared = 1;\n');
    write(dir, 'src/only-a.ts', "export const onlyA = 2;\nconst T = new URL('./template.txt', import.meta.url);\n");
    write(dir, 'src/template.txt', 'hello');
    write(dir, 'node_modules/fake-ort/package.json', JSON.stringify({ name: 'fake-ort', version: ortVersion, dependencies: { 'fake-common': '^1' } }));
    write(dir, 'node_modules/fake-common/package.json', JSON.stringify({ name: 'fake-common', version: ortVersion }));
    return dir;
  }

  it('editing a file only one plugin imports changes that plugin\'s closure only', () => {
    const dir = project('1.30.0');
    const before = new CodeClosures();
    const a = before.of(join(dir, 'plugins/a/index.ts'), dir);
    const b = before.of(join(dir, 'plugins/b/index.ts'), dir);
    expect(a).toEqual({
      entry: 'plugins/a/index.ts',
      files: { 'plugins/a/index.ts': expect.any(String), 'src/only-a.ts': expect.any(String), 'src/shared.ts': expect.any(String), 'src/template.txt': expect.any(String) },
      packages: { 'fake-common': '1.30.0', 'fake-ort': '1.30.0' },
    });
    expect(b.packages).toEqual({ 'not-installed': 'not installed' });
    write(dir, 'src/only-a.ts', 'export const onlyA = 3;\n');
    const after = new CodeClosures();
    expect(after.of(join(dir, 'plugins/a/index.ts'), dir).files['src/only-a.ts']).not.toBe(a.files['src/only-a.ts']);
    expect(after.of(join(dir, 'plugins/b/index.ts'), dir)).toEqual(b);
  });

  it('a different installed version of an imported package, or of its dependency, changes the closure', () => {
    const dir = project('1.30.0');
    const other = project('1.31.0');
    const c = new CodeClosures();
    expect(c.of(join(other, 'plugins/a/index.ts'), other).packages).toEqual({ 'fake-common': '1.31.0', 'fake-ort': '1.31.0' });
    expect(c.of(join(other, 'plugins/a/index.ts'), other).files).toEqual(c.of(join(dir, 'plugins/a/index.ts'), dir).files);
  });

  it('follows a linked package folder (npm link, pnpm) to the version installed there', () => {
    const store = join(root, `store${n++}`);
    write(store, 'fake-ort/package.json', JSON.stringify({ name: 'fake-ort', version: '2.0.0' }));
    const linked = join(root, `p${n++}`);
    write(linked, 'plugins/a/index.ts', "import 'fake-ort';\n");
    mkdirSync(join(linked, 'node_modules'));
    symlinkSync(join(store, 'fake-ort'), join(linked, 'node_modules', 'fake-ort'));
    expect(new CodeClosures().of(join(linked, 'plugins/a/index.ts'), linked).packages).toEqual({ 'fake-ort': '2.0.0' });
  });
});
