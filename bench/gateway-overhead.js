/**
 * Gateway overhead of `POST /v1/chat/completions`: a mock OpenAI upstream streaming 50
 * chunks 10 ms apart, reached directly (the physical floor), through Tributary and through
 * @portkey-ai/gateway (from node_modules), at 1 and 100 concurrent streams, side by side; plus a
 * minimal pass-through proxy as the reference for what any Node proxy hop costs.
 * Measures time to first token, inter-chunk gaps, per-chunk latency, server CPU per stream,
 * and time from a client abort to the upstream seeing its socket closed.
 * Env: BENCH_GATEWAY_SEQUENTIAL (×1 streams per target, 40), BENCH_GATEWAY_ROUNDS (×100 rounds, 20),
 * BENCH_NO_PORTKEY=1 (skip Portkey, for quicker trial runs), BENCH_CPU_PROF=<dir> (CPU profiles
 * of the Tributary and pass-through processes).
 */
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { now } from './lib/clock.js';
import { pin } from './lib/pin.js';
import { environment } from './lib/report.js';
import { round, summarize } from './lib/stats.js';

export const name = 'gateway-overhead';

const SEQUENTIAL = Number(process.env.BENCH_GATEWAY_SEQUENTIAL) || 40;
const CONCURRENT = 100;
const CONCURRENT_ROUNDS = Number(process.env.BENCH_GATEWAY_ROUNDS) || 20;
const WARMUP_ROUNDS = 3;
const ABORTS = 15;
const ABORT_AFTER_CHUNKS = 5;
/** How long we wait for the upstream to see a close after an abort before calling it "never". */
const ABORT_WAIT_MS = 2_000;
const TICKS_PER_SECOND = 100; // Linux USER_HZ: /proc/<pid>/stat counts CPU in 10 ms ticks

export async function run({ cleanup, resultsDir }) {
  const upstream = await startChild(fileURLToPath(new URL('./lib/mock-openai-upstream.js', import.meta.url)), []);
  cleanup.add(() => upstream.child.kill());
  const upstreamBase = `http://127.0.0.1:${upstream.ready.port}/v1`;
  const dataDir = mkdtempSync(join(tmpdir(), 'tributary-bench-gw-'));
  cleanup.add(() => rmSync(dataDir, { recursive: true, force: true }));
  const tributary = await startChild(fileURLToPath(new URL('./lib/tributary-gateway-child.js', import.meta.url)), [
    JSON.stringify({ upstream: upstreamBase, dataDir }),
  ]);
  cleanup.add(() => tributary.child.kill());
  const passthrough = await startChild(fileURLToPath(new URL('./lib/passthrough-proxy.js', import.meta.url)), [JSON.stringify({ upstream: upstreamBase })]);
  cleanup.add(() => passthrough.child.kill());
  const portkey = process.env.BENCH_NO_PORTKEY ? undefined : await startPortkey();
  cleanup.add(() => portkey?.child.kill());

  const targets = [
    {
      name: 'direct',
      port: upstream.ready.port,
      path: '/v1/chat/completions',
      model: 'bench',
      headers: { authorization: 'Bearer sk-bench' },
      pid: upstream.child.pid,
    },
    { name: 'tributary', port: tributary.ready.port, path: '/v1/chat/completions', model: 'mock/bench', headers: {}, pid: tributary.child.pid },
    {
      name: 'passthrough',
      port: passthrough.ready.port,
      path: '/v1/chat/completions',
      model: 'bench',
      headers: { authorization: 'Bearer sk-bench' },
      pid: passthrough.child.pid,
    },
    ...(portkey
      ? [
          {
            name: 'portkey',
            port: portkey.port,
            path: '/v1/chat/completions',
            model: 'bench',
            pid: portkey.child.pid,
            headers: { authorization: 'Bearer sk-bench', 'x-portkey-provider': 'openai', 'x-portkey-custom-host': upstreamBase },
          },
        ]
      : []),
  ];

  const pinned = pin(
    targets.filter((t) => t.name !== 'direct').map((t) => t.pid),
    [process.pid, upstream.child.pid],
  );

  const closes = new Map();
  upstream.child.on('message', (msg) => {
    if (msg.type === 'closed' || msg.type === 'finished') {
      const entry = closes.get(msg.id) ?? {};
      entry[msg.type] = msg.at;
      closes.set(msg.id, entry);
      entry.notify?.();
    }
  });

  const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
  cleanup.add(() => agent.destroy());
  let seq = 0;
  const stream = (target, opts = {}) => streamOnce(target, agent, `${target.name}-${++seq}`, opts);

  // Warm-up: connection pools, and enough requests that per-request code runs optimised, as in a server in service.
  for (const target of targets) {
    for (let i = 0; i < 3; i++) await stream(target);
    for (let r = 0; r < WARMUP_ROUNDS; r++) await Promise.all(Array.from({ length: CONCURRENT }, () => stream(target)));
  }

  // The targets take turns (a stream each at ×1, a round each at ×100) in a rotating order, so a
  // slow spell of this shared machine falls on all of them alike, not on whichever ran then:
  // measured one target after another, two runs of the same code read an added ×1 TTFT p50 of
  // 1.48 and 2.75 ms.
  const runs = new Map();
  const runOf = (target, concurrency) => {
    const key = `${target.name} ${concurrency}`;
    if (!runs.has(key)) runs.set(key, { results: [], ticks: 0, wallMs: 0, turnTicks: [] });
    return runs.get(key);
  };
  for (const concurrency of [1, CONCURRENT]) {
    const turns = concurrency === 1 ? SEQUENTIAL : CONCURRENT_ROUNDS;
    for (let i = 0; i < turns; i++) {
      for (let k = 0; k < targets.length; k++) {
        const target = targets[(i + k) % targets.length];
        const run = runOf(target, concurrency);
        const ticks = cpuTicks(target.pid);
        const t0 = now();
        if (concurrency === 1) run.results.push(await stream(target));
        else run.results.push(...(await Promise.all(Array.from({ length: CONCURRENT }, () => stream(target)))));
        run.wallMs += now() - t0;
        run.turnTicks[i] = cpuTicks(target.pid) - ticks;
        run.ticks += run.turnTicks[i];
      }
    }
  }

  const scenarios = [];
  for (const target of targets) {
    for (const concurrency of [1, CONCURRENT]) {
      const { results, ticks, wallMs } = runOf(target, concurrency);
      scenarios.push(summariseScenario(target.name, concurrency, results, (ticks * 1000) / TICKS_PER_SECOND, wallMs));
      console.log(`[gateway-overhead] ${target.name} ×${concurrency}: ${results.filter((r) => r.ok).length}/${results.length} streams ok`);
    }

    const aborts = [];
    const streams = scenarios.some((x) => x.target === target.name && x.ok > 0);
    for (let i = 0; streams && i < ABORTS; i++) {
      const id = `${target.name}-abort-${i}`;
      const entry = {};
      closes.set(id, entry);
      const seen = new Promise((resolve) => {
        entry.notify = () => entry.closed !== undefined && resolve();
        setTimeout(resolve, ABORT_WAIT_MS);
      });
      const r = await streamOnce(target, agent, id, { abortAfter: ABORT_AFTER_CHUNKS });
      await seen;
      aborts.push(
        r.abortedAt !== undefined && entry.closed !== undefined && (entry.finished === undefined || entry.closed < entry.finished)
          ? entry.closed - r.abortedAt
          : Infinity,
      );
    }
    const finite = aborts.filter(Number.isFinite);
    if (streams)
      scenarios
        .filter((s) => s.target === target.name)
        .forEach(
          (s) =>
            (s.abortToUpstreamCloseMs = {
              samples: aborts.length,
              closed: finite.length,
              ...(finite.length ? { p50: round(summarize(finite).p50, 2), max: round(summarize(finite).max, 2) } : {}),
            }),
        );
  }

  const result = {
    command: 'npm run bench gateway',
    setup: {
      pinned,
      chunks: upstream.ready.chunks,
      delayMs: upstream.ready.delayMs,
      sequential: SEQUENTIAL,
      concurrent: CONCURRENT,
      concurrentRounds: CONCURRENT_ROUNDS,
      aborts: ABORTS,
    },
    scenarios,
    environment: environment(),
  };
  addOverheads(result.scenarios);
  addCpuRatios(result.scenarios, runOf);
  writeResults(resultsDir, result);
  await new Promise((resolve) => {
    tributary.child.send('close');
    tributary.child.once('exit', resolve);
    setTimeout(resolve, 5_000);
  });
}

/** One streamed completion; resolves with its timings (or the failure, as it happened). */
function streamOnce(target, agent, id, { abortAfter } = {}) {
  return new Promise((resolve) => {
    const body = JSON.stringify({ model: target.model, messages: [{ role: 'user', content: id }], stream: true });
    const start = now();
    const result = { ok: false, status: 0, arrivals: [], latencies: [], abortedAt: undefined, error: undefined };
    const req = http.request({
      host: '127.0.0.1',
      port: target.port,
      path: target.path,
      method: 'POST',
      agent: abortAfter ? false : agent,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...target.headers },
    });
    const finish = () => resolve({ ...result, start });
    req.on('error', (err) => {
      if (result.abortedAt === undefined) result.error = err.message;
      finish();
    });
    req.on('response', (res) => {
      result.status = res.statusCode;
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (text) => {
        const at = now();
        buf += text;
        let sep;
        while ((sep = buf.indexOf('\n\n')) !== -1) {
          const frame = buf.slice(0, sep);
          buf = buf.slice(sep + 2);
          const data = frame
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trim())
            .join('\n');
          if (!data || data === '[DONE]') continue;
          let content;
          try {
            content = JSON.parse(data).choices?.[0]?.delta?.content;
          } catch {
            continue;
          }
          if (!content) continue;
          result.arrivals.push(at);
          result.latencies.push(at - Number(content.trim()));
          if (abortAfter && result.arrivals.length === abortAfter && result.abortedAt === undefined) {
            result.abortedAt = now();
            req.destroy();
            finish();
            return;
          }
        }
      });
      res.on('end', () => {
        result.ok = res.statusCode === 200 && result.arrivals.length > 0;
        if (!result.ok && !result.error) result.error = `status ${res.statusCode}, ${result.arrivals.length} chunks${buf ? `: ${buf.slice(0, 200)}` : ''}`;
        finish();
      });
      res.on('error', () => finish());
    });
    req.end(body);
  });
}

function summariseScenario(target, concurrency, results, cpuMs, wallMs) {
  const ok = results.filter((r) => r.ok);
  const ttft = ok.map((r) => r.arrivals[0] - r.start);
  const gaps = ok.flatMap((r) => r.arrivals.slice(1).map((t, i) => t - r.arrivals[i]));
  const latency = ok.flatMap((r) => r.latencies);
  const s = (xs) => {
    const v = summarize(xs);
    return { p50: round(v.p50), p99: round(v.p99), max: round(v.max) };
  };
  const failures = results.filter((r) => !r.ok).map((r) => r.error ?? `status ${r.status}`);
  return {
    target,
    concurrency,
    streams: results.length,
    ok: ok.length,
    chunksPerStream: ok.length ? round(ok.reduce((n, r) => n + r.arrivals.length, 0) / ok.length, 1) : 0,
    ttftMs: s(ttft),
    gapMs: s(gaps),
    chunkLatencyMs: s(latency),
    cpuMsPerStream: round(cpuMs / Math.max(1, results.length), 2),
    wallMs: round(wallMs, 0),
    failures: [...new Set(failures)].slice(0, 3),
    failureCount: failures.length,
  };
}

/** Added = the target's percentile minus the direct floor's, at the same concurrency. */
function addOverheads(scenarios) {
  for (const s of scenarios) {
    const floor = scenarios.find((d) => d.target === 'direct' && d.concurrency === s.concurrency);
    if (!floor || s.target === 'direct' || s.ok === 0) continue;
    s.added = {
      ttftP50Ms: round(s.ttftMs.p50 - floor.ttftMs.p50),
      ttftP99Ms: round(s.ttftMs.p99 - floor.ttftMs.p99),
      gapP99Ms: round(s.gapMs.p99 - floor.gapMs.p99),
      chunkLatencyP50Ms: round(s.chunkLatencyMs.p50 - floor.chunkLatencyMs.p50),
      chunkLatencyP99Ms: round(s.chunkLatencyMs.p99 - floor.chunkLatencyMs.p99),
    };
  }
}

/**
 * Tributary's CPU over the pass-through's, turn by turn at ×100: the two ran a round each within
 * the same second, so a slow spell of this shared machine falls on both; the median of the turns
 * is what a stray spell (a GC, a timer) cannot move. The whole-run ratio is kept beside it.
 */
function addCpuRatios(scenarios, runOf) {
  const trib = scenarios.find((s) => s.target === 'tributary' && s.concurrency === CONCURRENT);
  const pass = scenarios.find((s) => s.target === 'passthrough' && s.concurrency === CONCURRENT);
  if (!trib || !pass || trib.ok === 0 || pass.ok === 0) return;
  const a = runOf({ name: 'tributary' }, CONCURRENT).turnTicks;
  const b = runOf({ name: 'passthrough' }, CONCURRENT).turnTicks;
  const perTurn = a.map((t, i) => t / Math.max(1, b[i]));
  trib.cpuRatioToPassthrough = {
    medianOfTurns: round(summarize(perTurn).p50, 3),
    wholeRun: round(trib.cpuMsPerStream / pass.cpuMsPerStream, 3),
    turns: perTurn.map((r) => round(r, 2)),
  };
}

const GOALS = { cpuRatio: 1.3, ttftP50Ms: 1, ttftP99Ms: 5, gapP99Ms: 1, abortMs: 50 };

function rows(result) {
  const fmt = (x) => (x === undefined ? '—' : Number.isFinite(x) ? String(x) : 'never');
  return result.scenarios.map((s) => {
    const a = s.abortToUpstreamCloseMs;
    if (s.ok === 0)
      return [`${s.target} ×${s.concurrency}`, `${s.ok}/${s.streams}`, 'failed', '—', '—', '—', '—', String(s.cpuMsPerStream), 'n/a (no stream ran)'];
    const abort = a ? (a.closed === a.samples ? `${fmt(a.p50)} / ${fmt(a.max)}` : `${a.closed}/${a.samples} closed${a.closed ? ` (p50 ${a.p50})` : ''}`) : '—';
    const floor = s.target === 'direct' ? '(floor)' : '—';
    return [
      `${s.target} ×${s.concurrency}`,
      `${s.ok}/${s.streams}`,
      `${s.ttftMs.p50} / ${s.ttftMs.p99}`,
      s.added ? `${fmt(s.added.ttftP50Ms)} / ${fmt(s.added.ttftP99Ms)}` : floor,
      `${s.gapMs.p99}`,
      s.added ? fmt(s.added.gapP99Ms) : floor,
      `${s.chunkLatencyMs.p50} / ${s.chunkLatencyMs.p99}`,
      String(s.cpuMsPerStream),
      abort,
    ];
  });
}

const HEAD = [
  'scenario',
  'ok streams',
  'TTFT p50/p99 ms',
  'added TTFT p50/p99 ms',
  'gap p99 ms',
  'added gap p99 ms',
  'chunk latency p50/p99 ms',
  'server CPU ms/stream',
  'abort→upstream close p50/max ms',
];

function verdicts(result) {
  const lines = [];
  for (const s of result.scenarios.filter((x) => x.target === 'tributary')) {
    const a = s.added;
    if (!a) continue;
    const met = (x, goal) => (x <= goal ? 'met' : 'MISSED');
    lines.push(
      `Tributary ×${s.concurrency}: added TTFT p50 ${a.ttftP50Ms} ms (goal ≤ ${GOALS.ttftP50Ms}: ${met(a.ttftP50Ms, GOALS.ttftP50Ms)}), p99 ${a.ttftP99Ms} ms (goal ≤ ${GOALS.ttftP99Ms}: ${met(a.ttftP99Ms, GOALS.ttftP99Ms)}), added gap p99 ${a.gapP99Ms} ms (goal ≤ ${GOALS.gapP99Ms}: ${met(a.gapP99Ms, GOALS.gapP99Ms)}).`,
    );
  }
  const r = result.scenarios.find((x) => x.target === 'tributary' && x.cpuRatioToPassthrough)?.cpuRatioToPassthrough;
  if (r)
    lines.push(
      `Tributary ×${CONCURRENT} CPU per stream / pass-through's: median of ${r.turns.length} turns ${r.medianOfTurns}× (goal ≤ ${GOALS.cpuRatio}: ${r.medianOfTurns <= GOALS.cpuRatio ? 'met' : 'MISSED'}); whole run ${r.wholeRun}×; turns ${r.turns.join(', ')}.`,
    );
  const t = result.scenarios.find((x) => x.target === 'tributary')?.abortToUpstreamCloseMs;
  if (t)
    lines.push(
      `Tributary abort → upstream close: ${t.closed}/${t.samples} closed, p50 ${t.p50} ms, max ${t.max} ms (goal ≤ ${GOALS.abortMs}: ${t.closed === t.samples && t.max <= GOALS.abortMs ? 'met' : 'MISSED'}).`,
    );
  for (const s of result.scenarios.filter((x) => x.failureCount > 0))
    lines.push(`${s.target} ×${s.concurrency}: ${s.failureCount} of ${s.streams} streams failed — ${s.failures.join('; ')}`);
  return lines;
}

function writeResults(dir, result) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  const env = result.environment;
  const md = [
    `# ${name}`,
    '',
    `- date: ${env.date}`,
    `- Node ${env.node}, ${env.platform}, CPU: ${env.cpu} (${env.cores} cores)`,
    `- command: \`${result.command}\``,
    `- setup: mock OpenAI upstream streaming ${result.setup.chunks} chunks ${result.setup.delayMs} ms apart; ×1 = ${result.setup.sequential} sequential streams, ×${result.setup.concurrent} = ${result.setup.concurrentRounds} rounds of ${result.setup.concurrent} concurrent streams; ${result.setup.aborts} aborts after ${ABORT_AFTER_CHUNKS} chunks; ${result.setup.pinned ? 'servers pinned to the last core, load and upstream to the others' : 'not pinned'}`,
    '',
    `| ${HEAD.join(' | ')} |`,
    `|${HEAD.map(() => '---').join('|')}|`,
    ...rows(result).map((r) => `| ${r.join(' | ')} |`),
    '',
    ...verdicts(result).map((l) => `- ${l}`),
    '',
  ].join('\n');
  writeFileSync(join(dir, `${name}.md`), md);
  console.log(`\n${md}\nwrote ${join(dir, `${name}.json`)} and ${name}.md`);
}

function startChild(script, args) {
  const prof = process.env.BENCH_CPU_PROF && /tributary|passthrough/.test(script) ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = fork(script, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--no-warnings', ...prof] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start`)), 60_000);
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    child.on('message', (msg) => {
      if (msg?.type !== 'ready') return;
      clearTimeout(timer);
      resolve({ child, ready: msg });
    });
  });
}

/** Portkey's published Node server, from node_modules; recorded as unavailable if it does not start. */
async function startPortkey() {
  let script;
  try {
    script = createRequire(import.meta.url).resolve('@portkey-ai/gateway/build/start-server.js');
  } catch {
    console.error('[gateway-overhead] @portkey-ai/gateway is not installed: skipped');
    return undefined;
  }
  const port = await freePort();
  const child = fork(script, [`--port=${port}`, '--headless'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: ['--no-warnings'] });
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      await res.text();
      return { child, port };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  console.error('[gateway-overhead] @portkey-ai/gateway did not start: skipped');
  child.kill();
  return undefined;
}

function freePort() {
  return new Promise((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function cpuTicks(pid) {
  // Fields 14 and 15 of /proc/<pid>/stat: utime and stime; the command name may hold spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
