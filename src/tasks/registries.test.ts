// Each step reads its part of a task from its own registry, so that its cache key holds only the
// code it runs: the registries must agree with the tasks' whole definitions, and must not reach
// onnxruntime-node (which keys a step on the CPU kernel family) or, for data and Triton, the exporter.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CodeClosures } from '../cache/code-closure.ts';
import { TASK_DATA } from './data-registry.ts';
import { TASK_HEADS } from './head-registry.ts';
import { TASKS } from './registry.ts';
import { TASK_NAMES } from './task.ts';
import { TASK_TRITON } from './triton-registry.ts';

const closures = new CodeClosures();
const closureOf = (file: string) => closures.of(fileURLToPath(new URL(file, import.meta.url)));

describe('the step registries', () => {
  it('hold the same readData and exportHead as each task\'s definition (one line per registry a task has a part for)', () => {
    for (const task of TASK_NAMES) {
      expect(TASK_DATA[task], `${task}: readData in data-registry.ts`).toBe(TASKS[task]?.readData);
      expect(TASK_HEADS[task], `${task}: exportHead in head-registry.ts`).toBe(TASKS[task]?.exportHead);
    }
    // Every task with a definition says what Triton serves (labels or not).
    expect(Object.keys(TASK_TRITON).sort()).toEqual(Object.keys(TASKS).sort());
  });

  it('data and Triton parts reach neither onnxruntime-node nor the exporter; heads reach no onnxruntime-node', () => {
    for (const file of ['./data-registry.ts', './triton-registry.ts', './head-registry.ts']) {
      const c = closureOf(file);
      expect(Object.keys(c.packages), file).not.toContain('onnxruntime-node');
      expect(Object.keys(c.files).filter((f) => /\/(evaluate|index)\.ts$|\/registry\.ts$/.test(f)), file).toEqual([]);
      if (file !== './head-registry.ts') expect(Object.keys(c.files).filter((f) => f.startsWith('src/export/')), file).toEqual([]);
    }
    // triton's own task modules too (question-answering.ts: the output names and the answer length
    // came from the exporter and from bench's evaluation).
    const triton = closureOf('../../plugins/triton/index.ts');
    expect(Object.keys(triton.files).filter((f) => f.startsWith('src/export/') || /\/(evaluate|index)\.ts$/.test(f) && f.startsWith('src/'))).toEqual([]);
    expect(triton.packages).not.toHaveProperty('onnxruntime-node');
    // The whole registry is bench's: it does load onnxruntime.
    expect(closureOf('./registry.ts').packages).toHaveProperty('onnxruntime-node');
  });
});
