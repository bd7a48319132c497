/**
 * Realtime fan-out: one channel to 1,000 and 5,000 WebSocket subscribers and to 1,000 SSE
 * subscribers, Tributary against plain `ws` broadcast (the practical floor), Socket.IO 4.8 and
 * a plain node:http SSE broadcast, side by side, 100-byte payloads. Each server runs in its own
 * process and publishes in-process at a paced rate; the subscribers live in BENCH_RT_CLIENT_PROCS
 * client processes (lib/rt-clients.js), the same for every target.
 *
 * Per scenario: the highest rate (msgs/s) the server published at (≥ 90% of the step's target) while
 * every subscriber got every message within a second of the step's end with no disconnect ("zero loss"), delivered msgs/s at that rate,
 * publish-to-receive p50/p99 at 10 msgs/s and at that rate, server RSS per idle connection;
 * and Tributary's replay of 10,000 missed events to one reconnecting client.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { now } from './lib/clock.js';
import { ipcRequests } from './lib/ipc-requests.js';
import { CLIENT_PROCS, startClients } from './lib/rt-clients.js';
import { messagesOf } from './lib/rt-subscribers.js';
import { summarize, round } from './lib/stats.js';

export const name = 'realtime-fanout';

const SERVER = fileURLToPath(new URL('./realtime-server.js', import.meta.url));
const BYTES = 100;
const STEP_MS = Number(process.env.BENCH_STEP_MS) || 2_000;
const RATES = [10, 50, 100, 200, 400, 800, 1_600, 3_200];
const SCENARIOS = [
  { transport: 'websocket', subscribers: 1_000, targets: ['tributary', 'ws', 'socketio'] },
  { transport: 'websocket', subscribers: 5_000, targets: ['tributary', 'ws', 'socketio'] },
  { transport: 'sse', subscribers: 1_000, targets: ['tributary', 'sse'] },
];
const REPLAY_EVENTS = 10_000;
/** BENCH_RT_QUICK=1: a tenth of the subscribers, for trying the bench out (figures not comparable). */
if (process.env.BENCH_RT_QUICK) for (const s of SCENARIOS) s.subscribers /= 10;

/** One server process of `target`; `extra` (redisUrl, keyPrefix) puts it on Redis (bench/cluster.js). */
export async function startServer(target, cleanup, extra = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'tributary-bench-rt-'));
  const child = fork(SERVER, [JSON.stringify({ target, dataDir, ...extra })], {
    execArgv: ['--expose-gc', '--no-warnings'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let request;
  const ready = new Promise((resolve, reject) => {
    request = ipcRequests(child, `${target} server`, (msg) => {
      if (msg.type === 'ready') resolve(msg);
    });
    child.once('exit', (code) => reject(new Error(`${target} server exited (${code})`)));
  });
  const { port } = await ready;
  const stop = async () => {
    if (child.exitCode !== null) return;
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await request('close').catch(() => undefined);
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
    clearTimeout(killer);
    rmSync(dataDir, { recursive: true, force: true });
  };
  cleanup.add(stop);
  // Payloads are numbered from 0 by the server; `published` is the next number.
  return { port, request: (cmd, args) => request(cmd, args), stop, published: 0 };
}

/** Subscribers of `target` in the client processes; socket.io's room joins are async on the server. */
async function subscribe(server, target, transport, count, cleanup) {
  const clients = await startClients({ target, transport, port: server.port, count, cleanup });
  if (target === 'socketio') await sleep(500);
  return clients;
}

/** Publishes at `rate` for STEP_MS; zero loss when every subscriber has every message within 1 s after. */
async function step(server, clients, rate) {
  await clients.begin(server.published);
  const cpuBefore = (await server.request('cpu')).micros;
  const clientCpuBefore = await clients.cpuMicros();
  const { count, endedAt } = await server.request('publish', { rate, durationMs: STEP_MS, bytes: BYTES });
  server.published += count;
  // Wall clock: the publisher's end, not when this process heard of it; the clients wait until
  // a second after this process heard (as long as before the processes split).
  const outcome = await clients.finish({ count, deadline: now() + 1_000, graceEnd: endedAt + 1_000 });
  // Server CPU per delivered message: what the server pays, whoever the bottleneck is (the
  // subscribers share this machine's two cores, so the highest rate often measures the clients).
  const cpuMicros = (await server.request('cpu')).micros - cpuBefore;
  const clientCpuMicros = (await clients.cpuMicros()) - clientCpuBefore;
  const { missing, late, disconnected, latency } = outcome;
  const delivered = count * clients.count;
  // A rate the server's own publisher could not reach is not sustained, whatever arrived.
  const achieved = (count * 1000) / STEP_MS;
  return {
    rate,
    achieved: Math.round(achieved),
    count,
    zeroLoss: missing === 0 && late === 0 && disconnected === 0 && achieved >= 0.9 * rate,
    missing,
    late,
    disconnected,
    delivered,
    deliveredPerSec: Math.round((delivered * 1000) / STEP_MS),
    p50Ms: round(latency.p50, 2),
    p99Ms: round(latency.p99, 2),
    cpuUsPerDelivery: round(cpuMicros / Math.max(1, delivered), 2),
    clientCpuUsPerDelivery: round(clientCpuMicros / Math.max(1, delivered), 2),
  };
}

/**
 * Connects `count` subscribers and measures the server's RSS per idle connection, steady: a
 * warm-up round of `count` subscribers connects first and stays while the measured `count`
 * connect, so the baseline (after GC) already holds what a process pays once for its first
 * connections (JIT code, heap reservation), the same for every server; then the warm-up leaves.
 * (A warm-up that leaves before the measured round would let those reuse the heap pages it
 * freed: plain `ws` then shows 0.3 KB.) The cold figure (from the fresh server) is kept too.
 */
async function connectMeasured(server, target, transport, count, cleanup) {
  const rss = async () => (await server.request('rss')).rss;
  const fresh = await rss();
  const warmUp = await subscribe(server, target, transport, count, cleanup);
  await sleep(300);
  const warm = await rss();
  const clients = await subscribe(server, target, transport, count, cleanup);
  await sleep(300);
  const loaded = await rss();
  await warmUp.close();
  await sleep(500); // the server sees the warm-up's sockets close before the rate steps
  return { clients, rss: { perConnection: Math.round((loaded - warm) / count), coldPerConnection: Math.round((warm - fresh) / count) } };
}

async function runScenario({ transport, subscribers }, target, cleanup) {
  const server = await startServer(target, cleanup);
  try {
    const { clients, rss } = await connectMeasured(server, target, transport, subscribers, cleanup);
    const steps = [];
    for (const rate of RATES) {
      const s = await step(server, clients, rate);
      steps.push(s);
      console.log(
        `  ${target.padEnd(9)} ${transport} ×${subscribers} @ ${rate}/s: ${s.zeroLoss ? 'ok' : `NOT SUSTAINED (published ${s.achieved}/s, missing ${s.missing}, late ${s.late}, disconnected ${s.disconnected})`} p50 ${s.p50Ms} ms p99 ${s.p99Ms} ms, CPU µs/msg server ${s.cpuUsPerDelivery} clients ${s.clientCpuUsPerDelivery}`,
      );
      if (!s.zeroLoss) break;
    }
    await clients.close();
    const best = [...steps].reverse().find((s) => s.zeroLoss);
    return {
      target,
      transport,
      subscribers,
      rssPerConnectionBytes: rss.perConnection,
      rssPerConnectionColdBytes: rss.coldPerConnection,
      at10: steps[0],
      best: best ?? null,
      steps,
    };
  } finally {
    await server.stop();
  }
}

/** A client that missed 10,000 events resumes: time from its subscribe to the last replayed event. */
export async function replay(cleanup, runs = 5) {
  const server = await startServer('tributary', cleanup);
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/ws`, { perMessageDeflate: false });
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'connect', version: 1 }));
    ws.send(JSON.stringify({ type: 'subscribe', channel: 'public:bench' }));
    const subscribed = await new Promise((r) =>
      ws.on('message', function f(d) {
        const m = JSON.parse(d);
        if (m.type === 'subscribed') {
          ws.off('message', f);
          r(m);
        }
      }),
    );
    ws.close();
    await server.request('fill', { count: REPLAY_EVENTS, bytes: BYTES });
    const times = [];
    for (let i = 0; i < runs; i++) {
      const again = new WebSocket(`ws://127.0.0.1:${server.port}/v1/ws`, { perMessageDeflate: false });
      await new Promise((r) => again.once('open', r));
      again.send(JSON.stringify({ type: 'connect', version: 1 }));
      const t0 = performance.now();
      let got = 0;
      const done = new Promise((r) =>
        again.on('message', (d) => {
          for (const m of messagesOf(d)) if (m.type === 'pub' && ++got === REPLAY_EVENTS) r();
        }),
      );
      again.send(JSON.stringify({ type: 'subscribe', channel: 'public:bench', position: subscribed.top }));
      await done;
      times.push(performance.now() - t0);
      again.terminate();
    }
    return { events: REPLAY_EVENTS, ms: summarize(times), runsMs: times.map((r) => round(r, 1)) };
  } finally {
    await server.stop();
  }
}

/**
 * Server RSS per additional idle WebSocket connection, from 1,000 to 5,000 of them: the marginal
 * cost, without the one-off growth (JIT code, heap reservation) the first thousand pay.
 */
async function marginalRss(target, cleanup) {
  const server = await startServer(target, cleanup);
  const closers = [];
  try {
    closers.push((await subscribe(server, target, 'websocket', 1_000, cleanup)).close);
    await sleep(300);
    const at1000 = (await server.request('rss')).rss;
    closers.push((await subscribe(server, target, 'websocket', 4_000, cleanup)).close);
    await sleep(300);
    const at5000 = (await server.request('rss')).rss;
    return { target, bytesPerConnection: Math.round((at5000 - at1000) / 4_000) };
  } finally {
    for (const close of closers) await close();
    await server.stop();
  }
}

const WS_TARGETS = ['tributary', 'ws', 'socketio'];
const marginalLine = (rows) =>
  `Server RSS per additional idle WebSocket connection (1,000 → 5,000): ${rows.map((r) => `${r.target} ${(r.bytesPerConnection / 1024).toFixed(1)} KB`).join(', ')}`;

/**
 * Server CPU per delivered message when the publisher bursts: BURST_EVENTS published together
 * (one in-process loop) to BURST_SUBSCRIBERS WebSocket or SSE subscribers, against one event at a time.
 */
const BURST_SUBSCRIBERS = 1_000;
const BURST_EVENTS = 100;
async function bursts(cleanup, transport) {
  const server = await startServer('tributary', cleanup);
  const clients = await subscribe(server, 'tributary', transport, BURST_SUBSCRIBERS, cleanup);
  let total = 0;
  const all = async (count) => {
    await server.request('fill', { count, bytes: BYTES });
    total += count;
    await clients.waitReceived(total);
  };
  const cpuPerDelivery = async (burst, rounds) => {
    await all(burst); // warm-up
    const before = (await server.request('cpu')).micros;
    for (let r = 0; r < rounds; r++) await all(burst);
    return round(((await server.request('cpu')).micros - before) / (rounds * burst * BURST_SUBSCRIBERS), 2);
  };
  try {
    const single = await cpuPerDelivery(1, 100);
    const burst = await cpuPerDelivery(BURST_EVENTS, 10);
    return { transport, subscribers: BURST_SUBSCRIBERS, burstEvents: BURST_EVENTS, cpuUsPerDelivery: { single, burst } };
  } finally {
    await clients.close();
    await server.stop();
  }
}

export async function run({ cleanup, resultsDir }) {
  // BENCH_RT_ONLY=replay|burst|rss: only that measurement, printed (BENCH_RT_REPLAY_RUNS replays); results files untouched.
  if (process.env.BENCH_RT_ONLY === 'replay') {
    const r = await replay(cleanup, Number(process.env.BENCH_RT_REPLAY_RUNS) || 5);
    console.log(replayLine(r));
    return;
  }
  if (process.env.BENCH_RT_ONLY === 'burst') {
    for (const transport of ['websocket', 'sse']) console.log(burstLine(await bursts(cleanup, transport)));
    return;
  }
  if (process.env.BENCH_RT_ONLY === 'rss') {
    const rows = [];
    for (const target of WS_TARGETS) {
      const server = await startServer(target, cleanup);
      const { clients, rss } = await connectMeasured(server, target, 'websocket', 1_000, cleanup);
      await clients.close();
      await server.stop();
      console.log(
        `${target} ×1000: RSS per idle connection ${(rss.perConnection / 1024).toFixed(1)} KB after a warm-up round (${(rss.coldPerConnection / 1024).toFixed(1)} KB cold)`,
      );
      rows.push(await marginalRss(target, cleanup));
    }
    console.log(marginalLine(rows));
    return;
  }
  const results = [];
  for (const scenario of SCENARIOS) {
    for (const target of scenario.targets) {
      console.log(`[realtime-fanout] ${target} ${scenario.transport} ×${scenario.subscribers}`);
      results.push(await runScenario(scenario, target, cleanup));
    }
  }
  const replayed = await replay(cleanup);
  const burst = [await bursts(cleanup, 'websocket'), await bursts(cleanup, 'sse')];
  const rssMarginal = [];
  for (const target of WS_TARGETS) rssMarginal.push(await marginalRss(target, cleanup));
  const report = {
    environment: { date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, clientProcesses: CLIENT_PROCS },
    stepMs: STEP_MS,
    payloadBytes: BYTES,
    results,
    replay: replayed,
    burst,
    rssMarginal,
  };
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, 'realtime-fanout.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(resultsDir, 'realtime-fanout.md'), markdown(report));
  console.log(markdown(report));
}

export function markdown(report) {
  const rows = report.results.map(
    (r) =>
      `| ${r.transport} ×${r.subscribers} | ${r.target} | ${r.best ? r.best.rate : '< 10'} | ${r.best ? r.best.deliveredPerSec.toLocaleString('en') : '—'} | ${r.at10.p50Ms} / ${r.at10.p99Ms} | ${r.best ? `${r.best.p50Ms} / ${r.best.p99Ms}` : '—'} | ${(r.rssPerConnectionBytes / 1024).toFixed(1)} (${(r.rssPerConnectionColdBytes / 1024).toFixed(1)}) | ${r.at10.cpuUsPerDelivery} / ${r.best ? r.best.cpuUsPerDelivery : '—'} |`,
  );
  return [
    `Realtime fan-out (${report.environment.date}, Node ${report.environment.node}, ${report.environment.cores} cores; subscribers in ${report.environment.clientProcesses} client processes; ${report.payloadBytes}-byte payloads, ${report.stepMs / 1000} s per rate step)`,
    '',
    '| scenario | server | highest zero-loss rate (msgs/s) | delivered msgs/s | p50 / p99 ms at 10 msgs/s | p50 / p99 ms at that rate | server RSS KB / idle connection, steady (cold) | server CPU µs / delivered msg (10 msgs/s / that rate) |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `${replayLine(report.replay)}.`,
    '',
    ...report.burst.map((b) => `${burstLine(b)}.`),
    '',
    `${marginalLine(report.rssMarginal)}.`,
    '',
  ].join('\n');
}

function replayLine(r) {
  return `Replay of ${r.events.toLocaleString('en')} missed events to one reconnecting WebSocket client: p50 ${round(r.ms.p50, 1)} ms, max ${round(r.ms.max, 1)} ms (${r.runsMs.join(', ')})`;
}

function burstLine(b) {
  return `Server CPU per delivered message to ${b.subscribers.toLocaleString('en')} ${b.transport === 'sse' ? 'SSE' : 'WebSocket'} subscribers: ${b.cpuUsPerDelivery.single} µs one event at a time, ${b.cpuUsPerDelivery.burst} µs in bursts of ${b.burstEvents} published together`;
}
