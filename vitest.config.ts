import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Timing assertions (concurrency, cancel latency) need the cores to themselves.
    maxWorkers: 2,
  },
});
