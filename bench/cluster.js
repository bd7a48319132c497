/**
 * Scale-out fan-out (`npm run bench cluster`): one channel to SUBSCRIBERS WebSocket subscribers
 * spread evenly over the nodes, published on the first node at paced rates, for
 *   Tributary: 1 node on memory, 1 node on Redis, 3 nodes on Redis;
 *   Socket.IO 4.8 with its official Redis adapter (@socket.io/redis-adapter): 1 and 3 nodes.
 * Per scenario, at the highest rate where every subscriber got every message: delivered msgs/s, server CPU µs per delivered
 * message (all nodes; Redis's own CPU reported beside it), publish-to-receive p50/p99.
 * Then Tributary on 3 Redis nodes: a client that missed 10,000 events resumes on the same node
 * and on another node (p50 of RESUME_RUNS each).
 *
 * Env: REDIS_URL (default redis://127.0.0.1:6379), BENCH_CLUSTER_SUBSCRIBERS (600),
 * BENCH_CLUSTER_RATES (100,400,1600,3200), BENCH_STEP_MS (2000), BENCH_CLUSTER_QUICK=1 (short run).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { now } from './lib/clock.js';
import { startClients } from './lib/rt-clients.js';
import { messagesOf } from './lib/rt-subscribers.js';
import { round, summarize } from './lib/stats.js';
import { startServer } from './realtime-fanout.js';

export const name = 'cluster';

const QUICK = Boolean(process.env.BENCH_CLUSTER_QUICK);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SUBSCRIBERS = Number(process.env.BENCH_CLUSTER_SUBSCRIBERS) || (QUICK ? 300 : 600);
const RATES = (process.env.BENCH_CLUSTER_RATES ?? (QUICK ? '100,800,3200' : '100,400,1600,3200')).split(',').map(Number);
const STEP_MS = Number(process.env.BENCH_STEP_MS) || (QUICK ? 1_500 : 2_000);
const BYTES = 100;
const RESUME_EVENTS = 10_000;
const RESUME_RUNS = QUICK ? 3 : 5;
const SCENARIOS = [
  { label: 'Tributary, 1 node, memory', target: 'tributary', nodes: 1, redis: false },
  { label: 'Tributary, 1 node, Redis', target: 'tributary', nodes: 1, redis: true },
  { label: 'Tributary, 3 nodes, Redis', target: 'tributary', nodes: 3, redis: true },
  { label: 'Socket.IO 4.8 + Redis adapter, 1 node', target: 'socketio', nodes: 1, redis: true },
  { label: 'Socket.IO 4.8 + Redis adapter, 3 nodes', target: 'socketio', nodes: 3, redis: true },
];

/** Redis's own CPU so far (µs), from INFO: what the shared broker pays, reported beside the nodes'. */
async function redisCpuMicros(redis) {
  const info = await redis.info('cpu');
  const field = (k) => Number(info.match(new RegExp(`${k}:([0-9.]+)`))?.[1] ?? 0);
  return Math.round((field('used_cpu_sys') + field('used_cpu_user')) * 1e6);
}

async function dropPrefix(redis, prefix) {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}

async function startNodes(scenario, cleanup, keyPrefix) {
  const extra = scenario.redis ? { redisUrl: REDIS_URL, keyPrefix } : {};
  const nodes = [];
  for (let i = 0; i < scenario.nodes; i++) nodes.push(await startServer(scenario.target, cleanup, extra));
  return nodes;
}

/** Subscribers split evenly over the nodes, one client process per node (two for a single node). */
async function subscribeAll(scenario, nodes, cleanup) {
  const pools = [];
  for (let i = 0; i < nodes.length; i++) {
    const count = Math.floor(SUBSCRIBERS / nodes.length) + (i < SUBSCRIBERS % nodes.length ? 1 : 0);
    pools.push(await startClients({ target: scenario.target, transport: 'websocket', port: nodes[i].port, count, cleanup, procs: nodes.length === 1 ? 2 : 1 }));
  }
  if (scenario.target === 'socketio') await sleep(500); // room joins are async on the server
  return {
    count: SUBSCRIBERS,
    begin: (first) => Promise.all(pools.map((p) => p.begin(first))),
    async finish(args) {
      const parts = await Promise.all(pools.map((p) => p.finish(args)));
      return parts;
    },
    close: () => Promise.all(pools.map((p) => p.close())),
  };
}

async function step(nodes, clients, redis, rate) {
  const [publisher] = nodes;
  await clients.begin(publisher.published);
  const cpu = async () => (await Promise.all(nodes.map((n) => n.request('cpu')))).reduce((a, r) => a + r.micros, 0);
  const cpuBefore = await cpu();
  const redisBefore = redis ? await redisCpuMicros(redis) : 0;
  const { count, endedAt } = await publisher.request('publish', { rate, durationMs: STEP_MS, bytes: BYTES });
  for (const n of nodes) n.published += count;
  const parts = await clients.finish({ count, deadline: now() + 1_000, graceEnd: endedAt + 1_000 });
  const cpuMicros = (await cpu()) - cpuBefore;
  const redisMicros = redis ? (await redisCpuMicros(redis)) - redisBefore : 0;
  const sum = (k) => parts.reduce((a, p) => a + p[k], 0);
  // Percentiles over the pools: the worst pool's p99 (a pool per node), its median p50.
  const p99 = Math.max(...parts.map((p) => p.latency.p99 ?? 0));
  const p50 = parts.map((p) => p.latency.p50 ?? 0).sort((a, b) => a - b)[Math.floor(parts.length / 2)];
  const delivered = count * clients.count - sum('missing');
  const achieved = (count * 1000) / STEP_MS;
  // Every message reached every subscriber (late or not). On a loaded machine the paced publisher may
  // fall short of the target rate: `achieved` says what it sent, and delivered msgs/s follows it.
  const complete = sum('missing') === 0 && sum('disconnected') === 0;
  const zeroLoss = complete && sum('late') === 0 && achieved >= 0.9 * rate;
  return {
    rate,
    achieved: Math.round(achieved),
    complete,
    zeroLoss,
    missing: sum('missing'),
    late: sum('late'),
    disconnected: sum('disconnected'),
    deliveredPerSec: Math.round((delivered * 1000) / STEP_MS),
    p50Ms: round(p50, 2),
    p99Ms: round(p99, 2),
    cpuUsPerDelivery: round(cpuMicros / Math.max(1, delivered), 2),
    redisCpuUsPerDelivery: round(redisMicros / Math.max(1, delivered), 2),
  };
}

async function runScenario(scenario, cleanup, redis) {
  const keyPrefix = `bench:${Date.now().toString(36)}:`;
  const nodes = await startNodes(scenario, cleanup, keyPrefix);
  const clients = await subscribeAll(scenario, nodes, cleanup);
  try {
    const steps = [];
    for (const rate of RATES) {
      const s = await step(nodes, clients, scenario.redis ? redis : undefined, rate);
      steps.push(s);
      console.log(
        `  ${scenario.label} @${rate}/s (achieved ${s.achieved}): ${s.zeroLoss ? 'zero loss' : `missing ${s.missing}, late ${s.late}, disconnected ${s.disconnected}`}; ${s.deliveredPerSec} delivered/s; p99 ${s.p99Ms} ms; ${s.cpuUsPerDelivery} µs/msg`,
      );
      if (!s.complete) break;
    }
    // The highest rate at which every subscriber got every message (on a loaded machine some arrive
    // over a second late: `zeroLoss` and p99 say so); delivered msgs/s and CPU are from that step.
    const best = steps.filter((s) => s.complete).sort((a, b) => b.deliveredPerSec - a.deliveredPerSec)[0] ?? null;
    return { ...scenario, subscribers: SUBSCRIBERS, steps, best };
  } finally {
    await clients.close();
    for (const n of nodes) await n.stop();
    if (scenario.redis) await dropPrefix(redis, keyPrefix);
  }
}

/** Time from subscribe (at a position RESUME_EVENTS behind) to the last replayed event, on `port`. */
async function resumeOnce(port, position) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/ws`, { perMessageDeflate: false });
  await new Promise((r) => ws.once('open', r));
  ws.send(JSON.stringify({ type: 'connect', version: 1 }));
  const t0 = performance.now();
  let got = 0;
  const done = new Promise((r) =>
    ws.on('message', (d) => {
      for (const m of messagesOf(d)) if (m.type === 'pub' && ++got === RESUME_EVENTS) r();
    }),
  );
  ws.send(JSON.stringify({ type: 'subscribe', channel: 'public:bench', position }));
  await done;
  const ms = performance.now() - t0;
  ws.terminate();
  return ms;
}

async function resumeAcrossNodes(cleanup, redis) {
  const keyPrefix = `bench:${Date.now().toString(36)}r:`;
  const nodes = await startNodes({ target: 'tributary', nodes: 2, redis: true }, cleanup, keyPrefix);
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${nodes[0].port}/v1/ws`, { perMessageDeflate: false });
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'connect', version: 1 }));
    ws.send(JSON.stringify({ type: 'subscribe', channel: 'public:bench' }));
    const subscribed = await new Promise((r) =>
      ws.on('message', function f(d) {
        for (const m of messagesOf(d))
          if (m.type === 'subscribed') {
            ws.off('message', f);
            r(m);
          }
      }),
    );
    ws.close();
    await nodes[0].request('fill', { count: RESUME_EVENTS, bytes: BYTES });
    const same = [];
    const other = [];
    // Interleaved, so load from elsewhere on the machine weighs on both alike.
    for (let i = 0; i < RESUME_RUNS; i++) {
      same.push(await resumeOnce(nodes[0].port, subscribed.top));
      other.push(await resumeOnce(nodes[1].port, subscribed.top));
    }
    return { events: RESUME_EVENTS, sameNodeMs: summarize(same), otherNodeMs: summarize(other), ratio: round(summarize(other).p50 / summarize(same).p50, 2) };
  } finally {
    for (const n of nodes) await n.stop();
    await dropPrefix(redis, keyPrefix);
  }
}

export async function run({ cleanup, resultsDir }) {
  const redis = new Redis(REDIS_URL);
  cleanup.add(() => redis.quit());
  const results = [];
  for (const scenario of SCENARIOS) results.push(await runScenario(scenario, cleanup, redis));
  const resume = await resumeAcrossNodes(cleanup, redis);
  const report = {
    environment: {
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      loadAverage: (await import('node:os')).loadavg().map((l) => round(l, 2)),
      quick: QUICK,
    },
    subscribers: SUBSCRIBERS,
    stepMs: STEP_MS,
    payloadBytes: BYTES,
    results,
    resume,
  };
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, 'cluster.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(resultsDir, 'cluster.md'), markdown(report));
  console.log(markdown(report));
}

export function markdown(report) {
  const rate = (label) => report.results.find((r) => r.label === label)?.best?.deliveredPerSec ?? 0;
  const rows = report.results.map(
    (r) =>
      `| ${r.label} | ${r.best ? `${r.best.rate} (${r.best.achieved})` : '—'} | ${r.best ? r.best.deliveredPerSec.toLocaleString('en') : '—'} | ${r.best ? `${r.best.p50Ms} / ${r.best.p99Ms}` : '—'} | ${r.best ? r.best.late : '—'} | ${r.best ? r.best.cpuUsPerDelivery : '—'} | ${r.best && r.redis ? r.best.redisCpuUsPerDelivery : '—'} |`,
  );
  const ratio = rate('Tributary, 1 node, memory') ? round(rate('Tributary, 1 node, Redis') / rate('Tributary, 1 node, memory'), 2) : '—';
  const e = report.environment;
  return [
    `Cluster fan-out (${e.date}, Node ${e.node}, ${e.cores} cores, load average ${e.loadAverage.join(' / ')}${e.quick ? ', quick run' : ''}; ${report.subscribers} WebSocket subscribers spread over the nodes, published on the first; ${report.payloadBytes}-byte payloads, ${report.stepMs / 1000} s per rate step)`,
    '',
    '| scenario | target rate (achieved) msgs/s, best step with every message delivered | delivered msgs/s | p50 / p99 ms | late (counted by the clients) | node CPU µs / delivered msg (all nodes) | Redis CPU µs / delivered msg |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Redis on one node delivers ${ratio}× the memory node's rate (goal ≥ 0.7).`,
    `Resume of ${report.resume.events.toLocaleString('en')} missed events (two nodes on Redis): p50 ${round(report.resume.sameNodeMs.p50, 1)} ms on the same node, ${round(report.resume.otherNodeMs.p50, 1)} ms on another node (${report.resume.ratio}×; goal ≤ 2).`,
    '',
  ].join('\n');
}
