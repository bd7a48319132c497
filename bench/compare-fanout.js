/**
 * Fan-out cost of `POST /compare-stream`: 12 demo models with no artificial delay, 1 and 50
 * concurrent comparisons, Tributary against the direct node:http SSE floor, side by side.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { now } from './lib/clock.js';
import { ScenarioAccumulator } from './lib/fanout-analysis.js';
import { watchGc } from './lib/gc-watch.js';
import { writeReport } from './lib/report.js';
import { startServerChild } from './lib/server-child.js';
import { keepAliveAgent, streamComparison } from './lib/sse-client.js';

export const name = 'compare-fanout';

const MODEL_COUNT = 12;
const ANSWER_TOKENS = 250;
/** Sequential comparisons per window at concurrency 1 (one comparison alone is too few samples). */
const SEQUENTIAL_RUNS = 20;
const CONCURRENT = 50;
/** Windows per scenario; targets alternate order each repetition so drift hits both alike. */
const REPETITIONS = Number(process.env.BENCH_REPETITIONS) || 3;
/** p99 added-latency goals from the issue, per concurrency. */
const GOALS_MS = { 1: 1, [CONCURRENT]: 5 };
const TARGETS = ['direct', 'tributary'];
const ELD_RESOLUTION_MS = 10;

export const benchModels = () => Object.fromEntries(
  Array.from({ length: MODEL_COUNT }, (_, i) => [`demo/bench-${i + 1}`, {
    name: `Bench ${i + 1}`, firstTokenMs: 0, tokensPerSecond: 1e9, answerTokens: ANSWER_TOKENS, flaky: false,
  }]),
);

export async function run({ cleanup, resultsDir }) {
  const models = benchModels();
  const modelIds = Object.keys(models);
  const dataDir = mkdtempSync(join(tmpdir(), 'tributary-bench-'));
  cleanup.add(() => rmSync(dataDir, { recursive: true, force: true }));
  const servers = {};
  for (const target of TARGETS) {
    const child = await startServerChild({ target, models, ...(target === 'tributary' ? { dataDir } : {}) });
    servers[target] = child;
    cleanup.add(() => child.kill());
  }
  const agent = keepAliveAgent();
  cleanup.add(() => agent.destroy());
  const clientGc = watchGc();
  cleanup.add(() => clientGc.stop());

  const runId = Date.now().toString(36);
  let promptNo = 0;
  const comparison = (target, label) => streamComparison({
    port: servers[target].port, agent,
    body: { input_data: `Bench ${label} ${runId}-${++promptNo}: explain event stream fan-out`, models: modelIds, tier: 'standard' },
  });

  const scenarios = new Map();
  const clientEld = new Map();
  const plan = [[1, SEQUENTIAL_RUNS], [CONCURRENT, 1]];
  try {
    for (const target of TARGETS) {
      for (let i = 0; i < 5; i++) await comparison(target, 'warmup');
      await Promise.all(Array.from({ length: 10 }, () => comparison(target, 'warmup')));
    }
    for (let rep = 0; rep < REPETITIONS; rep++) {
      const order = rep % 2 === 0 ? TARGETS : [...TARGETS].reverse();
      process.stdout.write(`[${name}] repetition ${rep + 1}/${REPETITIONS}:`);
      for (const [concurrency, rounds] of plan) {
        for (const target of order) {
          const key = `${target}×${concurrency}`;
          process.stdout.write(` ${key}`);
          if (!scenarios.has(key)) {
            scenarios.set(key, new ScenarioAccumulator({ target, concurrency, goalMs: GOALS_MS[concurrency] }));
            clientEld.set(key, monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS }));
          }
          const window = await measure({ key, server: servers[target], eld: clientEld.get(key), clientGc, concurrency, rounds, start: () => comparison(target, key) });
          scenarios.get(key).addWindow(window);
        }
      }
      process.stdout.write('\n');
    }
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  }

  const excess = (ns) => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS);
  const ordered = plan.flatMap(([c]) => TARGETS.map((t) => `${t}×${c}`));
  const result = {
    benchmark: name,
    command: 'npm run bench',
    setup: {
      models: MODEL_COUNT, answerTokens: ANSWER_TOKENS, firstTokenMs: 0, tokensPerSecond: 1e9, tier: 'standard',
      sequentialRuns: SEQUENTIAL_RUNS, concurrent: CONCURRENT, repetitions: REPETITIONS, goalsP99Ms: GOALS_MS,
      eventLoopDelayResolutionMs: ELD_RESOLUTION_MS,
      notes: [
        'Each server (Tributary via buildApp, and the direct node:http peer) runs alone in its own forked child; CPU is that child\'s process.cpuUsage() over the measurement windows.',
        'Both stream from the same DemoProvider wrapped to stamp performance.timeOrigin + performance.now() at each yielded delta.',
        'Added latency = client receive time (per socket read, before parsing) − provider yield time, clocks aligned by the fastest of 100 IPC round trips (offset and RTT in the JSON).',
        `Event-loop delay = monitorEventLoopDelay (resolution ${ELD_RESOLUTION_MS} ms) sample − resolution, over all windows of the scenario.`,
        `Each scenario is measured ${REPETITIONS} times, target order alternating per repetition; percentiles pool all tokens; gc() runs before each window.`,
        'Over-goal tokens are attributed to a GC pause in the server or the client process when one overlaps [yield, receive].',
      ],
    },
    scenarios: ordered.map((key) => {
      const h = clientEld.get(key);
      return scenarios.get(key).result({ clientEld: { p50: excess(h.percentile(50)), p99: excess(h.percentile(99)), max: excess(h.max) } });
    }),
  };
  writeReport(resultsDir, name, result);
  return result;
}

async function measure({ key, server, eld, clientGc, concurrency, rounds, start }) {
  const clock = await server.clockOffset();
  const before = await server.request('begin', { scenario: key });
  globalThis.gc?.();
  eld.enable();
  const t0 = now();
  const cpu0 = process.cpuUsage();
  const results = [];
  for (let r = 0; r < rounds; r++) results.push(...await Promise.all(Array.from({ length: concurrency }, start)));
  const wallMs = now() - t0;
  const clientCpu = process.cpuUsage(cpu0);
  eld.disable();
  const serverStats = await server.request('end');
  const { stamps } = await server.request('stamps');
  return { results, stamps, server: serverStats, before, clientCpu, clientGc: await clientGc.since(t0), clock, t0, wallMs };
}
