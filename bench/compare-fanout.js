/**
 * Fan-out cost of `POST /compare-stream`: 12 demo models with no artificial delay, 1 and 50
 * concurrent comparisons, Tributary against the direct node:http SSE floor, side by side.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { now } from './lib/clock.js';
import { writeReport } from './lib/report.js';
import { startServerChild } from './lib/server-child.js';
import { keepAliveAgent, streamComparison } from './lib/sse-client.js';
import { round, summarize } from './lib/stats.js';

export const name = 'compare-fanout';

const MODEL_COUNT = 12;
const ANSWER_TOKENS = 250;
/** Sequential comparisons measured at concurrency 1 (one comparison alone is too few samples). */
const SEQUENTIAL_RUNS = 20;
const CONCURRENT = 50;
/** p99 added latency goals from the issue, per concurrency. */
const GOALS_MS = { 1: 1, [CONCURRENT]: 5 };
const TARGETS = ['direct', 'tributary'];

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
  const server = await startServerChild({ dataDir, models });
  cleanup.add(() => server.kill());
  const agent = keepAliveAgent();
  cleanup.add(() => agent.destroy());
  const runId = Date.now().toString(36);
  let promptNo = 0;
  const port = (target) => (target === 'tributary' ? server.tributaryPort : server.directPort);
  const comparison = (target, label) => streamComparison({
    port: port(target), agent,
    body: { input_data: `Bench ${label} ${runId}-${++promptNo}: explain event stream fan-out`, models: modelIds, tier: 'standard' },
  });

  const scenarios = [];
  try {
    for (const target of TARGETS) {
      process.stdout.write(`[${name}] ${target}: warm-up`);
      for (let i = 0; i < 5; i++) await comparison(target, 'warmup');
      await Promise.all(Array.from({ length: 10 }, () => comparison(target, 'warmup')));
      for (const [concurrency, rounds] of [[1, SEQUENTIAL_RUNS], [CONCURRENT, 1]]) {
        process.stdout.write(`, ${concurrency}×${rounds}`);
        scenarios.push(await measure({ server, target, concurrency, rounds, comparison }));
      }
      process.stdout.write('\n');
    }
  } finally {
    await server.stop();
  }

  const result = {
    benchmark: name,
    command: 'npm run bench',
    setup: {
      models: MODEL_COUNT, answerTokens: ANSWER_TOKENS, firstTokenMs: 0, tokensPerSecond: 1e9, tier: 'standard',
      sequentialRuns: SEQUENTIAL_RUNS, concurrent: CONCURRENT, goalsP99Ms: GOALS_MS,
      eventLoopDelayResolutionMs: server.eldResolutionMs,
      notes: [
        'Server (Tributary and the direct peer) runs in a forked child; CPU is that process\'s process.cpuUsage() over the window.',
        'Added latency = client receive time (per socket read, before parsing) − time the provider yielded the token in the server, clocks aligned by IPC round trip.',
        'Event-loop delay = monitorEventLoopDelay sample − its resolution.',
        'Scenarios run in order: direct warm-up, direct ×1, direct ×50, Tributary warm-up, Tributary ×1, Tributary ×50 (gc() before each window).',
      ],
    },
    scenarios,
  };
  writeReport(resultsDir, name, result);
  return result;
}

async function measure({ server, target, concurrency, rounds, comparison }) {
  const clock = await server.clockOffset();
  const before = await server.request('begin');
  const t0 = now();
  const clientCpu0 = process.cpuUsage();
  const results = [];
  for (let r = 0; r < rounds; r++) {
    results.push(...await Promise.all(Array.from({ length: concurrency }, () => comparison(target, `${target}-c${concurrency}`))));
  }
  const wallMs = now() - t0;
  const clientCpu = process.cpuUsage(clientCpu0);
  const after = await server.request('end');
  const { stamps } = await server.request('stamps');
  return analyse({ target, concurrency, rounds, results, stamps, clock, t0, wallMs, before, after, clientCpu });
}

function analyse({ target, concurrency, rounds, results, stamps, clock, t0, wallMs, before, after, clientCpu }) {
  const latencies = [];
  const firstTokenLatencies = [];
  const worst = [];
  const checks = { badStatus: 0, notComparisonFirst: 0, notCompleteLast: 0, framesWithoutId: 0, modelErrors: 0, tokenCountMismatch: 0, unmatchedTokens: 0 };
  let tokens = 0;
  let events = 0;
  for (const res of results) {
    events += res.events;
    if (res.status !== 200) checks.badStatus++;
    if (res.firstType !== 'comparison') checks.notComparisonFirst++;
    if (res.lastType !== 'complete') checks.notCompleteLast++;
    checks.framesWithoutId += res.missingIds;
    checks.modelErrors += res.modelErrors;
    for (const [model, received] of Object.entries(res.received)) {
      tokens += received.length;
      const yields = stamps[res.prompt]?.[model];
      if (!yields) {
        checks.unmatchedTokens += received.length;
        continue;
      }
      if (yields.length !== received.length) checks.tokenCountMismatch++;
      const n = Math.min(yields.length, received.length);
      checks.unmatchedTokens += received.length - n;
      for (let i = 0; i < n; i++) {
        const yieldedAt = yields[i] - clock.offsetMs; // child clock -> parent clock
        const latency = received[i] - yieldedAt;
        latencies.push(latency);
        if (i === 0) firstTokenLatencies.push(latency);
        if (worst.length < 8 || latency > worst[worst.length - 1].latencyMs) {
          worst.push({ latencyMs: latency, model, tokenIndex: i, atMs: yieldedAt - t0 });
          worst.sort((a, b) => b.latencyMs - a.latencyMs);
          if (worst.length > 8) worst.pop();
        }
      }
    }
  }
  const lat = summarize(latencies);
  const cpuUs = after.cpu.userUs + after.cpu.systemUs;
  const goalMs = GOALS_MS[concurrency];
  const r3 = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'number' ? round(v) : v]));
  return {
    target,
    concurrency,
    rounds,
    comparisons: results.length,
    tokens,
    events,
    wallMs: round(wallMs, 1),
    eventsPerSec: Math.round(events / (wallMs / 1000)),
    tokensPerSec: Math.round(tokens / (wallMs / 1000)),
    cpuUsPerToken: round(cpuUs / tokens, 2),
    cpu: { userUs: after.cpu.userUs, systemUs: after.cpu.systemUs, utilisation: round(cpuUs / 1000 / after.wallMs, 3) },
    // The load generator's own CPU: near 1.0 means the client, not the server, may set the pace.
    clientCpu: { userUs: clientCpu.user, systemUs: clientCpu.system, utilisation: round((clientCpu.user + clientCpu.system) / 1000 / wallMs, 3) },
    eventLoopDelayMs: r3(after.eventLoopDelayMs),
    addedLatencyMs: r3(lat),
    firstTokenLatencyMs: r3(summarize(firstTokenLatencies)),
    overGoal: latencies.filter((l) => l > goalMs).length,
    goalP99Ms: goalMs,
    goalMet: lat.p99 <= goalMs,
    worst: worst.map(r3),
    checks,
    clock: r3(clock),
    memoryMB: { rssBefore: round(before.rssBytes / 2 ** 20, 1), rssAfter: round(after.rssBytes / 2 ** 20, 1), heapUsedBefore: round(before.heapUsedBytes / 2 ** 20, 1), heapUsedAfter: round(after.heapUsedBytes / 2 ** 20, 1) },
    hub: after.hub,
    serverWarningsSoFar: after.warnings,
  };
}
