/**
 * What operations cost: compare-fanout server CPU per token with metrics on against off (same
 * run, windows alternating), a `/metrics` scrape with 50 models' histograms, and `/health`
 * requests/s against a bare Fastify app with wrk (Debian's `wrk`; skipped with the reason when
 * it is missing).
 */
import { execFile, fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { environment } from './lib/report.js';
import { startServerChild } from './lib/server-child.js';
import { keepAliveAgent, streamComparison, tokensOf } from './lib/sse-client.js';

export const name = 'ops-overhead';

const MODELS = 50;
const PER_COMPARISON = 12;
const CONCURRENT = 50;
const TOKENS = 250;
const WINDOWS = Number(process.env.BENCH_REPETITIONS) || 5;
const WARM_UP_WINDOWS = Number(process.env.BENCH_WARM_UP_WINDOWS) || 4;
const SCRAPES = 30;
const WRK_SECONDS = Number(process.env.BENCH_WRK_SECONDS) || 3;
/** Alternating wrk rounds per side; the best of each counts (on a shared machine noise only slows). */
const WRK_ROUNDS = Number(process.env.BENCH_WRK_ROUNDS) || 5;

const models = Object.fromEntries(
  Array.from({ length: MODELS }, (_, i) => [
    `demo/m-${i + 1}`,
    {
      name: `Bench ${i + 1}`,
      firstTokenMs: 0,
      tokensPerSecond: 1e9,
      answerTokens: TOKENS,
      flaky: false,
    },
  ]),
);
/** The models of comparison n: a sliding slice, so every one of the 50 gets histograms. */
const modelsFor = (n) => Array.from({ length: PER_COMPARISON }, (_, i) => `demo/m-${((n * PER_COMPARISON + i) % MODELS) + 1}`);

export async function run({ cleanup, resultsDir }) {
  const targets = { on: true, off: false };
  const servers = {};
  for (const [key, metricsEnabled] of Object.entries(targets)) {
    const dataDir = mkdtempSync(join(tmpdir(), `tributary-bench-ops-${key}-`));
    cleanup.add(() => rmSync(dataDir, { recursive: true, force: true }));
    const child = await startServerChild({ target: 'tributary', dataDir, models, overrides: { ops: { metricsEnabled }, compare: { maxModels: 64 } } });
    servers[key] = child;
    cleanup.add(() => child.kill());
  }
  const agent = keepAliveAgent();
  cleanup.add(() => agent.destroy());
  let n = 0;
  const comparison = (key) =>
    streamComparison({ port: servers[key].port, agent, body: { input_data: `ops bench ${++n}`, models: modelsFor(n), tier: 'standard' } });

  // 1. CPU per token, metrics on vs off.
  // Warm-up: whole windows, alternating, not counted. After a single batch per side the windows
  // still got ~30 % cheaper over the first five or so (JIT, SQLite pages, the history filling to its cap).
  for (let w = 0; w < WARM_UP_WINDOWS; w++) {
    for (const key of Object.keys(targets)) await Promise.all(Array.from({ length: CONCURRENT }, () => comparison(key)));
  }
  const cpu = { on: { us: 0, tokens: 0 }, off: { us: 0, tokens: 0 } };
  const windows = [];
  process.stdout.write(`[${name}] metrics on/off:`);
  for (let w = 0; w < WINDOWS; w++) {
    for (const key of w % 2 === 0 ? ['on', 'off'] : ['off', 'on']) {
      await servers[key].request('begin');
      const results = await Promise.all(Array.from({ length: CONCURRENT }, () => comparison(key)));
      const end = await servers[key].request('end');
      const tokens = tokensOf(results);
      const us = end.cpu.userUs + end.cpu.systemUs;
      cpu[key].us += us;
      cpu[key].tokens += tokens;
      windows.push({ metrics: key, tokens, cpuUsPerToken: Number((us / tokens).toFixed(3)) });
      process.stdout.write(` ${key} ${(us / tokens).toFixed(2)} µs/token`);
    }
  }
  process.stdout.write('\n');
  const perToken = (k) => cpu[k].us / cpu[k].tokens;
  // Windows of the same side vary by ±10 % on a shared machine: the medians are the figure, the pooled ratio is kept beside.
  const median = (k) => {
    const v = windows
      .filter((w) => w.metrics === k)
      .map((w) => w.cpuUsPerToken)
      .sort((a, b) => a - b);
    return v[v.length >> 1];
  };
  const ratio = median('on') / median('off');
  // Each pair of windows ran back to back: its on/off ratio cancels the drift between pairs.
  const pairRatios = [];
  for (let w = 0; w < windows.length; w += 2) {
    const [on, off] = windows[w].metrics === 'on' ? [windows[w], windows[w + 1]] : [windows[w + 1], windows[w]];
    pairRatios.push(on.cpuUsPerToken / off.cpuUsPerToken);
  }
  pairRatios.sort((a, b) => a - b);

  // 2. /metrics scrape with 50 models' histograms (the on server has run them all).
  const url = `http://127.0.0.1:${servers.on.port}/metrics`;
  const scrapeMs = [];
  let bytes = 0;
  let families = 0;
  for (let i = 0; i < SCRAPES; i++) {
    const t0 = performance.now();
    const body = await (await fetch(url)).text();
    scrapeMs.push(performance.now() - t0);
    bytes = body.length;
    families = new Set(body.match(/^tributary_ttft_seconds_count\{model="[^"]+"/gm)).size;
  }
  scrapeMs.sort((a, b) => a - b);
  const scrape = {
    scrapes: SCRAPES,
    modelsWithTtft: families,
    bytes,
    p50Ms: round(scrapeMs[SCRAPES >> 1]),
    p95Ms: round(scrapeMs[Math.ceil(SCRAPES * 0.95) - 1]),
    maxMs: round(scrapeMs.at(-1)),
    goalMs: 20,
  };
  console.log(`[${name}] /metrics scrape (${families} models): p50 ${scrape.p50Ms} ms, p95 ${scrape.p95Ms} ms, ${Math.round(bytes / 1024)} KiB`);

  // 3. /health requests/s, Tributary (metrics on, request log off) against a bare Fastify app.
  let health = { skipped: 'wrk not installed (apt-get install wrk)' };
  if (await hasWrk()) {
    const bare = await startBareFastify();
    cleanup.add(() => bare.kill());
    const targets = { tributary: `http://127.0.0.1:${servers.on.port}/health`, fastify: `http://127.0.0.1:${bare.port}/health` };
    // A warm-up run each (JIT), then rounds alternating; the best round of each counts (noise only slows).
    for (const u of Object.values(targets)) await wrk(u, 1);
    const best = { tributary: 0, fastify: 0 };
    for (let r = 0; r < WRK_ROUNDS; r++) {
      for (const [k, u] of r % 2 ? Object.entries(targets).reverse() : Object.entries(targets)) best[k] = Math.max(best[k], await wrk(u));
    }
    const ours = best.tributary;
    const fastify = best.fastify;
    health = {
      tool: `wrk -t1 -c50 -d${WRK_SECONDS}s, best of ${WRK_ROUNDS} alternating rounds after a warm-up`,
      tributaryRps: Math.round(ours),
      bareFastifyRps: Math.round(fastify),
      ratio: round(ours / fastify),
      goalRatio: 0.8,
      seed004ClaimedRps: 6000,
    };
    console.log(
      `[${name}] /health: Tributary ${health.tributaryRps} req/s, bare Fastify ${health.bareFastifyRps} req/s (${health.ratio}×; seed 004 claimed 6,000)`,
    );
    bare.kill();
  }
  await Promise.all(Object.values(servers).map((s) => s.stop()));

  const result = {
    benchmark: name,
    env: environment(),
    metricsCost: {
      windowsPerSide: WINDOWS,
      warmUpWindowsPerSide: WARM_UP_WINDOWS,
      concurrent: CONCURRENT,
      modelsPerComparison: PER_COMPARISON,
      tokensPerModel: TOKENS,
      cpuUsPerTokenOn: median('on'),
      cpuUsPerTokenOff: median('off'),
      ratio: round(ratio, 3),
      pooledRatio: round(perToken('on') / perToken('off'), 3),
      medianPairRatio: round(pairRatios[pairRatios.length >> 1], 3),
      goalRatio: 1.03,
      windows,
    },
    scrape,
    health,
  };
  console.log(
    `[${name}] CPU per token with metrics on / off (medians): ${result.metricsCost.cpuUsPerTokenOn} / ${result.metricsCost.cpuUsPerTokenOff} µs = ${result.metricsCost.ratio}× (pooled ${result.metricsCost.pooledRatio}×, median of window pairs ${result.metricsCost.medianPairRatio}×; goal ≤ 1.03×)`,
  );
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
}

const round = (x, digits = 2) => Number(x.toFixed(digits));

async function hasWrk() {
  try {
    await promisify(execFile)('wrk', ['--version']).catch((e) => {
      if (e.code === 'ENOENT') throw e;
    });
    return true;
  } catch {
    return false;
  }
}

async function wrk(url, seconds = WRK_SECONDS) {
  const { stdout } = await promisify(execFile)('wrk', ['-t1', '-c50', `-d${seconds}s`, url]);
  const m = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  if (!m) throw new Error(`wrk output not understood: ${stdout}`);
  return Number(m[1]);
}

/** A bare Fastify app answering /health with the same JSON shape, in its own process. */
async function startBareFastify() {
  const code = `
    const Fastify = (await import('fastify')).default;
    const app = Fastify({ logger: false });
    const started = Date.now();
    app.get('/health', async () => ({ status: 'healthy', uptimeSeconds: Math.round((Date.now() - started) / 1000) }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    process.send(app.server.address().port);
    process.on('disconnect', () => process.exit(0));`;
  const child = fork('--input-type=module', [], {
    execArgv: ['--input-type=module', '-e', code],
    cwd: new URL('../packages/server/', import.meta.url),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (c) => reject(new Error(`bare fastify exited ${c}`)));
  });
  return { port, kill: () => child.kill() };
}
