/**
 * Runs the benchmarks (`npm run bench [name-filter]`). Each benchmark module exports `name`
 * and `run({ cleanup, resultsDir })`; cleanups run at the end, also on failure or Ctrl-C.
 */
import { fileURLToPath } from 'node:url';

const BENCHMARKS = [
  ['compare-fanout', () => import('./compare-fanout.js')],
  ['realtime-fanout', () => import('./realtime-fanout.js')],
  ['gateway-overhead', () => import('./gateway-overhead.js')],
  ['durable-latency', () => import('./durable-latency.js')],
  ['ops-overhead', () => import('./ops-overhead.js')],
  ['identity-overhead', () => import('./identity-overhead.js')],
  ['jobs', () => import('./jobs.js')],
  ['verify-client', () => import('./verify-client.js')],
  ['limit-stores', () => import('./limit-stores.js')],
  ['cluster', () => import('./cluster.js')],
];

const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));
const filter = process.argv[2];
const selected = BENCHMARKS.filter(([name]) => !filter || name.includes(filter));
if (selected.length === 0) {
  console.error(`No benchmark matches "${filter}". Available: ${BENCHMARKS.map(([n]) => n).join(', ')}`);
  process.exit(2);
}

const cleanups = [];
const cleanup = { add: (fn) => cleanups.push(fn) };
async function runCleanups() {
  while (cleanups.length) {
    try {
      await cleanups.pop()();
    } catch (err) {
      console.error(`cleanup failed: ${err?.message ?? err}`);
    }
  }
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    void runCleanups().finally(() => process.exit(130));
  });
}

let failed = false;
for (const [name, load] of selected) {
  const started = performance.now();
  try {
    const mod = await load();
    await mod.run({ cleanup, resultsDir });
    console.log(`[${name}] done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    failed = true;
    console.error(`[${name}] FAILED: ${err?.stack ?? err}`);
  } finally {
    await runCleanups();
  }
}
process.exit(failed ? 1 : 0);
