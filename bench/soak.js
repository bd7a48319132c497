/**
 * Soak: a realistic mix against a real server child for M minutes, sampling the server's
 * health every 10 s (over IPC, never HTTP). Fails (exit 1) when post-GC heap or RSS grows past
 * a bound after warm-up, or when any realtime event is lost or duplicated, or a stream breaks.
 *
 *   npm run soak -- --minutes 5 [--subscribers 200] [--rate 193] [--channels 4] [--history 2000] [--ttl 60]
 *                   [--slow 10] [--comparisons-per-min 30] [--gateway-per-min 30]
 *                   [--max-heap-growth-mb 16] [--max-rss-growth-mb 64] [--snapshots] [--json out.json]
 *
 * Mix: WebSocket subscribers (native protocol) that resume after reconnects (each reconnects
 * every 30–90 s) and slow ones that stop reading for 5–15 s (cut as slow consumers past a small
 * buffer, then resume); a publisher at `rate` events/s over HTTP batches; comparisons of
 * demo/fast + demo/flaky streamed over SSE (a quarter cancelled, a quarter resumed mid-stream
 * with Last-Event-ID); OpenAI-compatible gateway streams.
 *
 * History is held by count (`--history` per topic) and by age (`--ttl` seconds): every finished
 * comparison's topic stays replayable for `ttl`, so memory rises for one `ttl` and then levels
 * off. Warm-up must cover it (the default warm-up is a third of the run, at most 2 min).
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { ipcRequests } from './lib/ipc-requests.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    subscribers: { type: 'string', default: '200' },
    rate: { type: 'string', default: '193' },
    channels: { type: 'string', default: '4' },
    history: { type: 'string', default: '2000' },
    ttl: { type: 'string', default: '60' },
    slow: { type: 'string' },
    'comparisons-per-min': { type: 'string', default: '30' },
    'gateway-per-min': { type: 'string', default: '30' },
    'warmup-seconds': { type: 'string' },
    'max-heap-growth-mb': { type: 'string', default: '16' },
    'max-rss-growth-mb': { type: 'string', default: '64' },
    'sample-seconds': { type: 'string', default: '10' },
    snapshots: { type: 'boolean', default: false },
    json: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});
const num = (k) => Number(args[k]);
const MINUTES = num('minutes');
const SUBSCRIBERS = num('subscribers');
const RATE = num('rate');
const CHANNELS = num('channels');
const SLOW = args.slow !== undefined ? num('slow') : Math.ceil(SUBSCRIBERS / 20);
const SAMPLE_MS = num('sample-seconds') * 1000;
const DURATION_MS = MINUTES * 60_000;
const WARMUP_MS = args['warmup-seconds'] !== undefined ? num('warmup-seconds') * 1000 : Math.min(120_000, DURATION_MS / 3);
const PUBLISH_KEY = 'soak-publish-key-0123456789';
const log = (...a) => {
  if (!args.quiet) console.log(...a);
};
const MB = 1024 * 1024;

const dataDir = mkdtempSync(join(tmpdir(), 'tributary-soak-'));
const resultsDir = fileURLToPath(new URL('./results/tmp/', import.meta.url)); // heap snapshots: large, not committed
const server = await startServer({
  realtime: { publishKey: PUBLISH_KEY, maxBatch: 1_000, maxFramesPerSecond: 1_000 },
  streams: { history: { size: num('history'), ttlSeconds: num('ttl') }, subscriberBufferBytes: 64 * 1024 },
  demo: { speed: 4 },
});
const base = server.url;
const wsBase = base.replace(/^http/, 'ws');
const channels = Array.from({ length: CHANNELS }, (_, i) => `public:soak-${i}`);

const counts = {
  published: 0,
  publishErrors: 0,
  delivered: 0,
  gaps: 0,
  duplicates: 0,
  lostOnResume: 0,
  resumes: 0,
  reconnects: 0,
  slowConsumerCuts: 0,
  unexpectedCloses: 0,
  comparisons: 0,
  comparisonsCancelled: 0,
  comparisonsResumed: 0,
  modelFailures: 0,
  comparisonErrors: 0,
  gatewayStreams: 0,
  gatewayErrors: 0,
};
const problems = [];
const problem = (msg) => {
  if (problems.length < 50) problems.push(msg);
};
const tops = new Map(); // channel → highest seq published (from publish answers)
const epochOf = new Map();
let running = true;

// ── realtime subscribers ───────────────────────────────────────────────────────────────────
class Subscriber {
  constructor(i) {
    this.i = i;
    this.channel = channels[i % CHANNELS];
    this.slow = i < SLOW;
    this.pos = undefined; // {epoch, seq}: the last event seen
    this.ws = undefined;
    this.stopped = false;
  }

  connect() {
    if (this.stopped) return;
    const ws = new WebSocket(`${wsBase}/v1/ws`, { perMessageDeflate: true });
    this.ws = ws;
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'connect', version: 1 }));
      ws.send(JSON.stringify({ type: 'subscribe', channel: this.channel, ...(this.pos ? { position: this.pos } : {}) }));
    });
    ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) this.onMessage(JSON.parse(line));
    });
    ws.on('error', () => undefined);
    ws.on('close', (code) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      if (code === 4008) counts.slowConsumerCuts++;
      else if (code !== 1000 && code !== 1005 && code !== 1012 && !this.closingOnPurpose) {
        counts.unexpectedCloses++;
        problem(`subscriber ${this.i} closed ${code}`);
      }
      this.closingOnPurpose = false;
      if (!this.stopped) setTimeout(() => this.connect(), 100 + Math.random() * 400);
    });
  }

  onMessage(m) {
    if (m.type === 'subscribed') {
      if (this.pos) {
        counts.resumes++;
        if (!m.recovered) {
          counts.lostOnResume++;
          problem(`subscriber ${this.i} resume not recovered: ${m.reason}`);
          this.pos = m.top;
        } else if (m.top.seq - m.replayed !== this.pos.seq) {
          counts.gaps++;
          problem(`subscriber ${this.i} replay starts at ${m.top.seq - m.replayed}, had ${this.pos.seq}`);
        }
      } else this.pos = m.recovered ? { epoch: m.top.epoch, seq: m.top.seq - m.replayed } : m.top;
    } else if (m.type === 'pub') {
      counts.delivered++;
      const expected = this.pos.seq + 1;
      if (m.seq < expected) {
        counts.duplicates++;
        problem(`subscriber ${this.i} duplicate ${m.seq} after ${this.pos.seq}`);
        return;
      }
      if (m.seq > expected) {
        counts.gaps++;
        problem(`subscriber ${this.i} gap ${this.pos.seq} → ${m.seq}`);
      }
      this.pos = { epoch: m.epoch, seq: m.seq };
    } else if (m.type === 'ping') this.ws?.send('{"type":"pong"}');
    else if (m.type === 'error') problem(`subscriber ${this.i} error ${m.code}: ${m.message}`);
  }

  /** Drops the connection now and then (a network blip); slow ones also stop reading for a while. */
  async churn() {
    while (running) {
      await sleep(30_000 + Math.random() * 60_000);
      if (!running || !this.ws) continue;
      if (this.slow && Math.random() < 0.7) {
        const socket = this.ws._socket;
        socket?.pause();
        await sleep(5_000 + Math.random() * 10_000);
        socket?.resume();
      } else {
        counts.reconnects++;
        this.closingOnPurpose = true;
        this.ws.terminate();
      }
    }
  }

  stop() {
    this.stopped = true;
    this.closingOnPurpose = true;
    this.ws?.close(1000);
  }
}

// ── publisher ──────────────────────────────────────────────────────────────────────────────
async function publisher() {
  const perTick = RATE / 10;
  let carry = 0;
  let n = 0;
  const pad = 'x'.repeat(120);
  while (running) {
    const tick = sleep(100);
    carry += perTick;
    const count = Math.floor(carry);
    carry -= count;
    if (count > 0) {
      const events = Array.from({ length: count }, () => ({ channel: channels[n % CHANNELS], type: 'tick', data: { n: n++, pad } }));
      try {
        const res = await fetch(`${base}/v1/publish`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${PUBLISH_KEY}` },
          body: JSON.stringify({ events }),
        });
        const body = await res.json();
        if (res.status !== 200) {
          counts.publishErrors++;
          problem(`publish ${res.status} ${body.code}`);
        } else
          for (const r of body.results) {
            counts.published++;
            if ((tops.get(r.channel) ?? 0) < r.seq) tops.set(r.channel, r.seq);
            epochOf.set(r.channel, r.epoch);
          }
      } catch (err) {
        counts.publishErrors++;
        problem(`publish failed: ${err.message}`);
      }
    }
    await tick;
  }
}

// ── comparisons over SSE ───────────────────────────────────────────────────────────────────
const PROMPTS = [
  'Explain backpressure in one paragraph.',
  'Why do logs need sequence numbers?',
  'Compare SSE and WebSocket.',
  'What is an epoch in a stream log?',
  'Summarise at-least-once delivery.',
];

/** Reads an SSE response, calling onFrame({event, id, data}) per frame; resolves at its end. */
async function readSse(res, onFrame, signal) {
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buf.indexOf('\n\n')) !== -1) {
        const raw = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const frame = { data: '' };
        for (const line of raw.split('\n')) {
          if (line.startsWith(':')) continue;
          const i = line.indexOf(':');
          const field = line.slice(0, i);
          const value = line.slice(i + 2);
          if (field === 'data') frame.data += value;
          else frame[field] = value;
        }
        if (frame.data || frame.event) onFrame(frame);
      }
    }
  } catch (err) {
    if (!signal?.aborted) throw err;
  }
}

async function comparison(k, timeout, state) {
  const mode = ['plain', 'cancel', 'resume', 'plain'][k % 4];
  const abort = new AbortController();
  const signal = AbortSignal.any([abort.signal, timeout]);
  state.mode = mode;
  let id;
  let lastId;
  let lastSeq = 0;
  let done = null;
  let deltas = 0;
  const onFrame = (f) => {
    if (f.id) {
      const seq = Number(f.id.slice(f.id.lastIndexOf(':') + 1));
      if (seq !== lastSeq + 1) {
        counts.comparisonErrors++;
        problem(`comparison ${id} seq ${lastSeq} → ${seq}`);
      }
      lastSeq = seq;
      lastId = f.id;
      state.lastId = f.id;
    }
    const data = JSON.parse(f.data);
    state.lastEvent = f.event;
    if (f.event === 'comparison.start') id = data.comparisonId;
    if (f.event === 'model.delta' && ++deltas === 3) {
      if (mode === 'cancel') void fetch(`${base}/v1/comparisons/${id}`, { method: 'DELETE' }).then((r) => r.body?.cancel());
      if (mode === 'resume') abort.abort();
    }
    if (f.event === 'model.error' && data.status === 'failed') counts.modelFailures++;
    if (f.event === 'comparison.done') done = data;
  };
  const res = await fetch(`${base}/v1/comparisons`, {
    method: 'POST',
    signal,
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
    body: JSON.stringify({ prompt: `${PROMPTS[k % PROMPTS.length]} (${k})`, models: ['demo/fast', 'demo/flaky'], tier: 'brief' }),
  });
  if (res.status !== 200) throw new Error(`POST /v1/comparisons ${res.status}`);
  await readSse(res, onFrame, abort.signal);
  if (mode === 'resume' && !done) {
    counts.comparisonsResumed++;
    state.resumed = true;
    const again = await fetch(`${base}/v1/comparisons/${id}/stream`, { headers: { 'Last-Event-ID': lastId }, signal: timeout });
    if (again.status !== 200) throw new Error(`resume ${again.status}`);
    await readSse(again, onFrame);
  }
  if (!done) throw new Error(`comparison ${id} ended without comparison.done`);
  counts.comparisons++;
  if (done.status === 'cancelled') counts.comparisonsCancelled++;
}

async function gatewayStream(_k, timeout, state) {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    signal: timeout,
    body: JSON.stringify({ model: 'demo/fast', stream: true, max_tokens: 60, messages: [{ role: 'user', content: 'Say something short.' }] }),
  });
  if (res.status !== 200) throw new Error(`gateway ${res.status}`);
  let finished = false;
  await readSse(res, (f) => {
    state.frames = (state.frames ?? 0) + 1;
    if (f.data === '[DONE]') finished = true;
  });
  if (!finished) throw new Error('gateway stream ended without [DONE]');
  counts.gatewayStreams++;
}

/**
 * Runs `task` about `perMin` times a minute, each on its own (they overlap when slow). A task
 * that has not finished after TASK_TIMEOUT_MS is aborted and reported with its state: a stream
 * that never ends is a failure, not a hang of the soak.
 */
const TASK_TIMEOUT_MS = 120_000;
async function every(perMin, task, onError) {
  if (perMin <= 0) return;
  const inflight = new Set();
  let k = 0;
  while (running) {
    const abort = new AbortController();
    const state = { k };
    const timer = setTimeout(() => abort.abort(new Error(`did not finish in ${TASK_TIMEOUT_MS / 1000} s: ${JSON.stringify(state)}`)), TASK_TIMEOUT_MS);
    const p = task(k++, abort.signal, state)
      .catch((err) => onError(abort.signal.aborted ? abort.signal.reason : err))
      .finally(() => {
        clearTimeout(timer);
        inflight.delete(p);
      });
    inflight.add(p);
    await sleep((60_000 / perMin) * (0.5 + Math.random()));
  }
  await Promise.all(inflight);
}

// ── run ────────────────────────────────────────────────────────────────────────────────────
log(
  `soak: ${MINUTES} min, ${SUBSCRIBERS} subscribers (${SLOW} slow) on ${CHANNELS} channels, ${RATE} events/s, history ${args.history}/channel, warm-up ${WARMUP_MS / 1000} s`,
);
const subscribers = Array.from({ length: SUBSCRIBERS }, (_, i) => new Subscriber(i));
for (const s of subscribers) {
  s.connect();
  if (s.i % 50 === 49) await sleep(50);
}
const churns = subscribers.map((s) => s.churn());
const started = Date.now();
const loops = [
  publisher(),
  every(num('comparisons-per-min'), comparison, (err) => {
    counts.comparisonErrors++;
    problem(`comparison: ${err.message}`);
  }),
  every(num('gateway-per-min'), gatewayStream, (err) => {
    counts.gatewayErrors++;
    problem(`gateway: ${err.message}`);
  }),
];

const samples = [];
const gcSamples = [];
const snapshotPaths = [];
let nextGcSample = 0;
let warmSnapshotT = -1; // writing a heap snapshot raises RSS by about the heap's size for good: RSS is judged after it
while (Date.now() - started < DURATION_MS) {
  await sleep(Math.min(SAMPLE_MS, DURATION_MS - (Date.now() - started)));
  const t = Math.round((Date.now() - started) / 1000);
  const s = await server.request('sample');
  samples.push({ t, ...s, delivered: counts.delivered });
  if (s.history && !args.quiet)
    log(
      `        history ${Object.entries(s.history)
        .map(([k, v]) => `${k}: ${v.topics} topics ${v.events} events (oldest ${v.oldestAgeS} s)`)
        .join(', ')}`,
    );
  log(
    `${String(t).padStart(5)} s  rss ${(s.rssBytes / MB).toFixed(1)} MB  heap ${(s.heapUsedBytes / MB).toFixed(1)} MB  eld p99 ${s.eldP99Ms.toFixed(1)} ms  handles ${s.handles}  fds ${s.fds}  held ${s.heldEvents}  delivered ${counts.delivered}  problems ${problems.length}`,
  );
  if (Date.now() - started >= nextGcSample) {
    // A collected heap for the growth check; its GC pause falls in an interval that is not kept.
    const g = await server.request('sample', { gc: true });
    gcSamples.push({ t, heapUsedBytes: g.heapUsedBytes, rssBytes: g.rssBytes });
    nextGcSample += 60_000;
    if (args.snapshots && (snapshotPaths.length === 0 ? Date.now() - started >= WARMUP_MS : false)) {
      mkdirSync(resultsDir, { recursive: true });
      snapshotPaths.push(await server.request('heapSnapshot', { path: join(resultsDir, `soak-warm.heapsnapshot`) }));
      warmSnapshotT = t;
    }
  }
}

// Stop the load, let every subscriber catch up, then count what is missing.
running = false;
await Promise.all(loops);
const final = await server.request('sample', { gc: true });
gcSamples.push({ t: Math.round((Date.now() - started) / 1000), heapUsedBytes: final.heapUsedBytes, rssBytes: final.rssBytes });
if (args.snapshots) snapshotPaths.push(await server.request('heapSnapshot', { path: join(resultsDir, `soak-end.heapsnapshot`) }));
const behind = () => subscribers.reduce((sum, s) => sum + Math.max(0, (tops.get(s.channel) ?? 0) - (s.pos?.seq ?? 0)), 0);
const catchUpDeadline = Date.now() + 30_000;
while (behind() > 0 && Date.now() < catchUpDeadline) await sleep(200);
const lost = behind();
for (const s of subscribers) s.stop();
await Promise.race([Promise.all(churns), sleep(100)]);
await server.close();
rmSync(dataDir, { recursive: true, force: true });

// ── verdict ────────────────────────────────────────────────────────────────────────────────
const afterWarm = gcSamples.filter((g) => g.t * 1000 >= WARMUP_MS);
const warmRef = afterWarm[0] ?? gcSamples[0];
const last = gcSamples.at(-1);
const heapGrowthMb = (last.heapUsedBytes - warmRef.heapUsedBytes) / MB;
const rssWarm = samples.filter((s) => s.t * 1000 >= WARMUP_MS && s.t > warmSnapshotT);
const rssGrowthMb = rssWarm.length > 1 ? (rssWarm.at(-1).rssBytes - rssWarm[0].rssBytes) / MB : 0;
const p99s = samples.map((s) => s.eldP99Ms).sort((a, b) => a - b);
const summary = {
  config: {
    minutes: MINUTES,
    subscribers: SUBSCRIBERS,
    slow: SLOW,
    channels: CHANNELS,
    rate: RATE,
    history: num('history'),
    ttlSeconds: num('ttl'),
    warmupSeconds: WARMUP_MS / 1000,
  },
  counts: { ...counts, lostAtEnd: lost },
  memory: {
    rssMb: {
      start: samples[0]?.rssBytes / MB,
      warm: rssWarm[0]?.rssBytes / MB,
      end: samples.at(-1)?.rssBytes / MB,
      max: Math.max(...samples.map((s) => s.rssBytes)) / MB,
      growthAfterWarmup: rssGrowthMb,
    },
    heapAfterGcMb: { warm: warmRef.heapUsedBytes / MB, end: last.heapUsedBytes / MB, growthAfterWarmup: heapGrowthMb },
  },
  eventLoopDelayMs: { p99OfSamplesMedian: p99s[Math.floor(p99s.length / 2)], p99Max: p99s.at(-1), max: Math.max(...samples.map((s) => s.eldMaxMs)) },
  handles: { start: samples[0]?.handles, max: Math.max(...samples.map((s) => s.handles)), end: samples.at(-1)?.handles },
  fds: { start: samples[0]?.fds, max: Math.max(...samples.map((s) => s.fds)), end: samples.at(-1)?.fds },
  samples,
  gcSamples,
  snapshots: snapshotPaths,
  problems,
};
const failures = [];
if (lost > 0) failures.push(`${lost} events never reached their subscribers`);
if (counts.gaps > 0 || counts.duplicates > 0 || counts.lostOnResume > 0)
  failures.push(`gaps ${counts.gaps}, duplicates ${counts.duplicates}, unrecovered resumes ${counts.lostOnResume}`);
if (counts.publishErrors > 0 || counts.comparisonErrors > 0 || counts.gatewayErrors > 0 || counts.unexpectedCloses > 0)
  failures.push(
    `errors: publish ${counts.publishErrors}, comparison ${counts.comparisonErrors}, gateway ${counts.gatewayErrors}, unexpected closes ${counts.unexpectedCloses}`,
  );
if (heapGrowthMb > num('max-heap-growth-mb'))
  failures.push(`post-GC heap grew ${heapGrowthMb.toFixed(1)} MB after warm-up (bound ${args['max-heap-growth-mb']} MB)`);
if (rssGrowthMb > num('max-rss-growth-mb')) failures.push(`RSS grew ${rssGrowthMb.toFixed(1)} MB after warm-up (bound ${args['max-rss-growth-mb']} MB)`);
if (counts.delivered === 0 || counts.comparisons === 0) failures.push('the load did not run');
summary.failures = failures;
if (args.json) writeFileSync(args.json, JSON.stringify(summary, null, 2));
const { samples: _s, gcSamples: _g, ...brief } = summary;
console.log(JSON.stringify(brief, null, 2));
console.log(failures.length ? `SOAK FAILED:\n  ${failures.join('\n  ')}` : 'SOAK PASSED');
process.exit(failures.length ? 1 : 0);

async function startServer(config) {
  const child = fork(fileURLToPath(new URL('./lib/soak-server-child.js', import.meta.url)), [JSON.stringify({ dataDir, config })], {
    execArgv: ['--expose-gc', '--no-warnings'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let onReady;
  const ready = new Promise((resolve, reject) => {
    onReady = resolve;
    child.once('exit', (code) => reject(new Error(`server exited (${code})`)));
  });
  const request = ipcRequests(child, 'soak server', (msg) => {
    if (msg.type === 'ready') onReady(msg);
  });
  const { url } = await ready;
  return {
    url,
    request,
    async close() {
      await request('close').catch(() => undefined);
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      clearTimeout(killer);
    },
  };
}
