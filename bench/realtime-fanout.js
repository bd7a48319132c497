/**
 * Realtime fan-out: one channel to 1,000 and 5,000 WebSocket subscribers and to 1,000 SSE
 * subscribers, Tributary against plain `ws` broadcast (the practical floor), Socket.IO 4.8 and
 * a plain node:http SSE broadcast, side by side, 100-byte payloads. Each server runs in its own
 * process and publishes in-process at a paced rate; the subscribers live in this process.
 *
 * Per scenario: the highest rate (msgs/s) the server published at (≥ 90% of the step's target) while
 * every subscriber got every message within a second of the step's end with no disconnect ("zero loss"), delivered msgs/s at that rate,
 * publish-to-receive p50/p99 at 10 msgs/s and at that rate, server RSS per idle connection;
 * and Tributary's replay of 10,000 missed events to one reconnecting client.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { io as ioClient } from 'socket.io-client';
import { now } from './lib/clock.js';
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

async function startServer(target, cleanup) {
  const dataDir = mkdtempSync(join(tmpdir(), 'tributary-bench-rt-'));
  const child = fork(SERVER, [JSON.stringify({ target, dataDir })], { execArgv: ['--expose-gc', '--no-warnings'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map();
  let nextId = 0;
  const ready = new Promise((resolve, reject) => {
    child.on('message', (msg) => {
      if (msg.type === 'ready') return resolve(msg);
      const w = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.ok) w?.resolve(msg.result);
      else w?.reject(new Error(msg.error));
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
  function request(cmd, args) {
    return new Promise((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      child.send({ id, cmd, args });
    });
  }
  return { port, request, stop };
}

/** One subscriber: counts messages by publish index and records publish-to-receive latency. */
class Subscriber {
  constructor() {
    this.received = 0;
    this.disconnected = false;
    /** When (wall clock) the last message arrived: the 1-s rule is checked on it, not on a timer this busy process may run late. */
    this.lastAt = 0;
  }
  onPayload(p, window) {
    this.received++;
    this.lastAt = now();
    if (window.active && p.n >= window.first) window.latencies.push(now() - p.t);
  }
}

async function connectAll(target, transport, port, count, window) {
  const subs = [];
  const closers = [];
  const one = async () => {
    const sub = new Subscriber();
    if (transport === 'sse') {
      const path = target === 'tributary' ? '/v1/subscribe?channels=public:bench' : '/';
      await new Promise((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { Accept: 'text/event-stream' } }, (res) => {
          res.setEncoding('utf8');
          let buf = '';
          let opened = false;
          res.on('data', (chunk) => {
            buf += chunk;
            let i;
            while ((i = buf.indexOf('\n\n')) !== -1) {
              const frame = buf.slice(0, i);
              buf = buf.slice(i + 2);
              if (!opened && (frame.startsWith(':') || frame.includes('event: recovery'))) {
                opened = true;
                resolve();
              }
              const d = frame.indexOf('data: ');
              if (d === -1 || frame.includes('event: recovery')) continue;
              const json = JSON.parse(frame.slice(d + 6, frame.indexOf('\n', d) === -1 ? undefined : frame.indexOf('\n', d)));
              sub.onPayload(target === 'tributary' ? json.data : json, window);
            }
          });
          res.on('close', () => { sub.disconnected = true; });
        });
        req.on('error', reject);
        closers.push(() => req.destroy());
      });
    } else if (target === 'socketio') {
      const socket = ioClient(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false, forceNew: true });
      socket.on('m', (p) => sub.onPayload(p, window));
      socket.on('disconnect', () => { sub.disconnected = true; });
      await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('connect_error', reject); });
      await sleep(0);
      closers.push(() => socket.close());
    } else {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${target === 'tributary' ? '/v1/ws' : '/'}`, { perMessageDeflate: false });
      await new Promise((resolve, reject) => {
        ws.once('error', reject);
        if (target !== 'tributary') ws.once('open', resolve);
        else {
          ws.once('open', () => ws.send(JSON.stringify({ type: 'connect', version: 1 })));
          ws.on('message', function first(data) {
            const m = JSON.parse(data);
            if (m.type === 'connected') ws.send(JSON.stringify({ type: 'subscribe', channel: 'public:bench' }));
            if (m.type === 'subscribed') {
              ws.off('message', first);
              resolve();
            }
          });
        }
      });
      ws.on('message', (data) => {
        if (target !== 'tributary') return sub.onPayload(JSON.parse(data), window);
        for (const m of messagesOf(data)) if (m.type === 'pub') sub.onPayload(m.data, window);
      });
      ws.on('close', () => { sub.disconnected = true; });
      closers.push(() => ws.terminate());
    }
    subs.push(sub);
  };
  for (let i = 0; i < count; i += 100) await Promise.all(Array.from({ length: Math.min(100, count - i) }, one));
  if (target === 'socketio') await sleep(500); // room joins are async on the server
  return { subs, close: () => closers.forEach((c) => c()) };
}

/** Publishes at `rate` for STEP_MS; zero loss when every subscriber has every message within 1 s after. */
async function step(server, subs, rate, window) {
  const before = subs.map((s) => s.received);
  window.latencies = [];
  window.active = true;
  const cpuBefore = (await server.request('cpu')).micros;
  const { first, count, endedAt } = await server.request('publish', { rate, durationMs: STEP_MS, bytes: BYTES });
  window.first = first;
  const deadline = performance.now() + 1_000;
  const graceEnd = endedAt + 1_000; // wall clock: the publisher's end, not when this process heard of it
  const complete = () => subs.every((s, i) => s.received - before[i] >= count);
  while (!complete() && performance.now() < deadline) await sleep(20);
  window.active = false;
  // Server CPU per delivered message: what the server pays, whoever the bottleneck is (the
  // subscribers share this machine's two cores, so the highest rate often measures the clients).
  const cpuMicros = (await server.request('cpu')).micros - cpuBefore;
  const missing = subs.reduce((acc, s, i) => acc + Math.max(0, count - (s.received - before[i])), 0);
  // Arrived after the 1-s grace: late, however the check loop's timer was delayed.
  const late = subs.filter((s) => s.lastAt > graceEnd).length;
  const disconnected = subs.filter((s) => s.disconnected).length;
  const latency = summarize(window.latencies);
  // A rate the server's own publisher could not reach is not sustained, whatever arrived.
  const achieved = (count * 1000) / STEP_MS;
  return { rate, achieved: Math.round(achieved), count, zeroLoss: missing === 0 && late === 0 && disconnected === 0 && achieved >= 0.9 * rate, missing, late, disconnected, delivered: count * subs.length, deliveredPerSec: Math.round((count * subs.length * 1000) / STEP_MS), p50Ms: round(latency.p50, 2), p99Ms: round(latency.p99, 2), cpuUsPerDelivery: round(cpuMicros / Math.max(1, count * subs.length), 2) };
}

async function runScenario({ transport, subscribers }, target, cleanup) {
  const server = await startServer(target, cleanup);
  try {
    const idle = (await server.request('rss')).rss;
    const window = { active: false, first: 0, latencies: [] };
    const { subs, close } = await connectAll(target, transport, server.port, subscribers, window);
    await sleep(300);
    const loaded = (await server.request('rss')).rss;
    const steps = [];
    for (const rate of RATES) {
      const s = await step(server, subs, rate, window);
      steps.push(s);
      console.log(`  ${target.padEnd(9)} ${transport} ×${subscribers} @ ${rate}/s: ${s.zeroLoss ? 'ok' : `NOT SUSTAINED (published ${s.achieved}/s, missing ${s.missing}, late ${s.late}, disconnected ${s.disconnected})`} p50 ${s.p50Ms} ms p99 ${s.p99Ms} ms`);
      if (!s.zeroLoss) break;
    }
    close();
    const best = [...steps].reverse().find((s) => s.zeroLoss);
    return {
      target, transport, subscribers,
      rssPerConnectionBytes: Math.round((loaded - idle) / subscribers),
      at10: steps[0], best: best ?? null, steps,
    };
  } finally {
    await server.stop();
  }
}

/** The native protocol's messages in one frame: one JSON per line (replays come batched). */
const messagesOf = (data) => String(data).split('\n').map((line) => JSON.parse(line));

/** A client that missed 10,000 events resumes: time from its subscribe to the last replayed event. */
export async function replay(cleanup, runs = 5) {
  const server = await startServer('tributary', cleanup);
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/ws`, { perMessageDeflate: false });
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'connect', version: 1 }));
    ws.send(JSON.stringify({ type: 'subscribe', channel: 'public:bench' }));
    const subscribed = await new Promise((r) => ws.on('message', function f(d) { const m = JSON.parse(d); if (m.type === 'subscribed') { ws.off('message', f); r(m); } }));
    ws.close();
    await server.request('fill', { count: REPLAY_EVENTS, bytes: BYTES });
    const times = [];
    for (let i = 0; i < runs; i++) {
      const again = new WebSocket(`ws://127.0.0.1:${server.port}/v1/ws`, { perMessageDeflate: false });
      await new Promise((r) => again.once('open', r));
      again.send(JSON.stringify({ type: 'connect', version: 1 }));
      const t0 = performance.now();
      let got = 0;
      const done = new Promise((r) => again.on('message', (d) => { for (const m of messagesOf(d)) if (m.type === 'pub' && ++got === REPLAY_EVENTS) r(); }));
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
  const window = { active: false, first: 0, latencies: [] };
  const closers = [];
  try {
    closers.push((await connectAll(target, 'websocket', server.port, 1_000, window)).close);
    await sleep(300);
    const at1000 = (await server.request('rss')).rss;
    closers.push((await connectAll(target, 'websocket', server.port, 4_000, window)).close);
    await sleep(300);
    const at5000 = (await server.request('rss')).rss;
    return { target, bytesPerConnection: Math.round((at5000 - at1000) / 4_000) };
  } finally {
    for (const close of closers) close();
    await server.stop();
  }
}

const WS_TARGETS = ['tributary', 'ws', 'socketio'];
const marginalLine = (rows) => `Server RSS per additional idle WebSocket connection (1,000 → 5,000): ${rows.map((r) => `${r.target} ${(r.bytesPerConnection / 1024).toFixed(1)} KB`).join(', ')}`;

/**
 * Server CPU per delivered message when the publisher bursts: BURST_EVENTS published together
 * (one in-process loop) to BURST_SUBSCRIBERS WebSocket subscribers, against one event at a time.
 */
const BURST_SUBSCRIBERS = 1_000;
const BURST_EVENTS = 100;
async function bursts(cleanup) {
  const server = await startServer('tributary', cleanup);
  const window = { active: false, first: 0, latencies: [] };
  const { subs, close } = await connectAll('tributary', 'websocket', server.port, BURST_SUBSCRIBERS, window);
  let total = 0;
  const all = async (count) => {
    await server.request('fill', { count, bytes: BYTES });
    total += count;
    while (!subs.every((s) => s.received >= total)) await sleep(5);
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
    return { subscribers: BURST_SUBSCRIBERS, burstEvents: BURST_EVENTS, cpuUsPerDelivery: { single, burst } };
  } finally {
    close();
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
    console.log(burstLine(await bursts(cleanup)));
    return;
  }
  if (process.env.BENCH_RT_ONLY === 'rss') {
    const rows = [];
    for (const target of WS_TARGETS) rows.push(await marginalRss(target, cleanup));
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
  const burst = await bursts(cleanup);
  const rssMarginal = [];
  for (const target of WS_TARGETS) rssMarginal.push(await marginalRss(target, cleanup));
  const report = { environment: { date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cores: cpus().length }, stepMs: STEP_MS, payloadBytes: BYTES, results, replay: replayed, burst, rssMarginal };
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, 'realtime-fanout.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(resultsDir, 'realtime-fanout.md'), markdown(report));
  console.log(markdown(report));
}

function markdown(report) {
  const rows = report.results.map((r) => `| ${r.transport} ×${r.subscribers} | ${r.target} | ${r.best ? r.best.rate : '< 10'} | ${r.best ? r.best.deliveredPerSec.toLocaleString('en') : '—'} | ${r.at10.p50Ms} / ${r.at10.p99Ms} | ${r.best ? `${r.best.p50Ms} / ${r.best.p99Ms}` : '—'} | ${(r.rssPerConnectionBytes / 1024).toFixed(1)} | ${r.at10.cpuUsPerDelivery} / ${r.best ? r.best.cpuUsPerDelivery : '—'} |`);
  return [
    `Realtime fan-out (${report.environment.date}, Node ${report.environment.node}, ${report.environment.cores} cores; ${report.payloadBytes}-byte payloads, ${report.stepMs / 1000} s per rate step)`,
    '',
    '| scenario | server | highest zero-loss rate (msgs/s) | delivered msgs/s | p50 / p99 ms at 10 msgs/s | p50 / p99 ms at that rate | server RSS KB / connection | server CPU µs / delivered msg (10 msgs/s / that rate) |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `${replayLine(report.replay)}.`,
    '',
    `${burstLine(report.burst)}.`,
    '',
    `${marginalLine(report.rssMarginal)}.`,
    '',
  ].join('\n');
}

function replayLine(r) {
  return `Replay of ${r.events.toLocaleString('en')} missed events to one reconnecting WebSocket client: p50 ${round(r.ms.p50, 1)} ms, max ${round(r.ms.max, 1)} ms (${r.runsMs.join(', ')})`;
}

function burstLine(b) {
  return `Server CPU per delivered message to ${b.subscribers.toLocaleString('en')} WebSocket subscribers: ${b.cpuUsPerDelivery.single} µs one event at a time, ${b.cpuUsPerDelivery.burst} µs in bursts of ${b.burstEvents} published together`;
}
