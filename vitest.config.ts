import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'plugins/**/*.test.ts', 'tests/**/*.test.ts'],
    // onnxruntime-node is a native addon: separate processes are the safe pool for it.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // End-to-end tests run the real CLI, several onnxruntime sessions each; on 2 cores running
    // files two at a time is faster than more.
    maxWorkers: 2,
  },
});
