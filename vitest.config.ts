import { defineConfig } from 'vitest/config';

const ALL = 'packages/*/test/**/*.test.ts';
const BROWSER = 'packages/*/test/**/*.browser.test.ts';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Timing assertions (concurrency, cancel latency) need the cores to themselves.
    maxWorkers: 2,
    // Browser tests (Chromium is CPU-hungry) run after the rest, one file at a time.
    projects: [
      { extends: true, test: { name: 'node', include: [ALL], exclude: [BROWSER, '**/node_modules/**'], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'browser', include: [BROWSER], maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
});
