/**
 * What operations cost: compare-fanout server CPU per token with metrics on against off (fresh
 * process pairs loaded at the same time, bench/lib/pair-round.js `simultaneousRound`;
 * BENCH_REPETITIONS pairs, 12; BENCH_OPS_SELF=1 for an A/A run), a `/metrics` scrape with 50
 * models' histograms, and `/health` requests/s of a fresh server against a bare Fastify app's,
 * both under wrk at once (Debian's `wrk`; skipped with the reason when it is missing).
 */
import { execFile, fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ratiosOf, simultaneousRound } from './lib/pair-round.js';
import { pin, unpin } from './lib/pin.js';
import { environment } from './lib/report.js';
import { startServerChild } from './lib/server-child.js';
import { keepAliveAgent } from './lib/sse-client.js';
import { median } from './lib/stats.js';

export const name = 'ops-overhead';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

const MODELS = 50;
const PER_COMPARISON = 12;
const CONCURRENT = 50;
const TOKENS = 250;
/** Fresh process pairs (metrics on, metrics off); the median of their CPU-per-token ratios is the figure. */
const ROUNDS = Number(process.env.BENCH_REPETITIONS) || 12;
/** Load before the windows (JIT, SQLite pages, the history filling). */
const WARM_UP_MS = 8000;
/** Measured windows per round, both sides at once. */
const WINDOWS = 4;
const WINDOW_MS = Number(process.env.BENCH_OPS_WINDOW_MS) || 4000;
const SELF = process.env.BENCH_OPS_SELF === '1';
const SCRAPES = 30;
const WRK_SECONDS = Number(process.env.BENCH_WRK_SECONDS) || 3;
/** Rounds of both servers under wrk at once; the figure is the median of their ratios. */
const WRK_ROUNDS = Number(process.env.BENCH_WRK_ROUNDS) || 7;

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
  const agent = keepAliveAgent();
  cleanup.add(() => agent.destroy());
  const overrides = (metricsEnabled) => ({ ops: { metricsEnabled }, compare: { maxModels: 64 } });

  // 1. CPU per token, metrics on vs off, over fresh pairs of server processes loaded together
  // (bench/lib/pair-round.js): run one after the other, pairs scattered 0.89–1.20× and runs of
  // the same code read 1.005–1.051×.
  const rounds = [];
  let kept;
  for (let r = 0; r < ROUNDS; r++) {
    const last = r === ROUNDS - 1;
    const { per, servers, pinned } = await simultaneousRound({
      // BENCH_OPS_SELF=1: metrics on in both (an A/A run: how far this method scatters here).
      sides: { on: { root: ROOT, overrides: overrides(true) }, off: { root: ROOT, overrides: overrides(SELF) } },
      order: r % 2 ? ['off', 'on'] : ['on', 'off'],
      models,
      bodyFor: (n) => ({ input_data: `ops bench ${n}`, models: modelsFor(n), tier: 'standard' }),
      concurrency: CONCURRENT,
      warmUpMs: WARM_UP_MS,
      windows: WINDOWS,
      windowMs: WINDOW_MS,
      agent,
      cleanup,
      keep: last, // the last round's metrics-on server answers the scrape below
    });
    rounds.push({ on: per.on, off: per.off, cpuRatio: ratiosOf(per.on, per.off).cpuRatio, pinned });
    console.log(
      `[${name}] round ${r + 1}/${ROUNDS}: CPU per token on ${per.on.cpuUsPerToken} µs, off ${per.off.cpuUsPerToken} µs (${rounds.at(-1).cpuRatio}×)`,
    );
    if (last) kept = servers;
  }
  await kept.off.stop();
  const ratios = rounds.map((x) => x.cpuRatio);

  // 2. /metrics scrape with 50 models' histograms (the on server has run them all).
  const url = `http://127.0.0.1:${kept.on.port}/metrics`;
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
  await kept.on.stop();

  // 3. /health requests/s: a fresh Tributary (metrics on, request log off) against a bare Fastify
  // app, both processes that have served nothing else, loaded at the same time by one wrk each
  // (servers pinned together to the last core, wrk on the others), so that both get the same host:
  // taking turns, the best of five rounds read 0.78–0.96× across runs of the same code.
  let health = { skipped: 'wrk not installed (apt-get install wrk)' };
  if (await hasWrk()) {
    const bare = await startBareFastify();
    cleanup.add(() => bare.kill());
    const dataDir = mkdtempSync(join(tmpdir(), 'tributary-ops-health-'));
    cleanup.add(() => rmSync(dataDir, { recursive: true, force: true }));
    const fresh = await startServerChild({ target: 'tributary', dataDir, models, overrides: overrides(true) });
    cleanup.add(() => fresh.stop());
    const tributary = `http://127.0.0.1:${fresh.port}/health`;
    const fastify = `http://127.0.0.1:${bare.port}/health`;
    // Alone first, for the absolute figure next to seed 004's claim (a warm-up for both too).
    const alone = Math.max(await wrk(tributary), await wrk(tributary));
    await wrk(fastify, 1);
    const pinned = pin([fresh.pid, bare.pid]); // wrk, forked from this process, runs on its cores
    const rounds = [];
    try {
      for (let r = 0; r < WRK_ROUNDS; r++) {
        const [t, f] = await Promise.all([wrk(tributary), wrk(fastify)]);
        rounds.push({ tributaryRps: Math.round(t), bareFastifyRps: Math.round(f), ratio: round(t / f, 3) });
      }
    } finally {
      if (pinned) unpin();
    }
    const ratios = rounds.map((x) => x.ratio);
    health = {
      tool: `wrk -t1 -c50 -d${WRK_SECONDS}s against each server at the same time, ${WRK_ROUNDS} rounds, ${pinned ? 'servers pinned together to the last core' : 'not pinned'}`,
      ratio: round(median(ratios), 3),
      ratioRange: [Math.min(...ratios), Math.max(...ratios)],
      goalRatio: 0.8,
      perRound: rounds,
      tributaryAloneRps: Math.round(alone),
      seed004ClaimedRps: 6000,
    };
    console.log(
      `[${name}] /health: Tributary / bare Fastify ${health.ratio}× (median of ${WRK_ROUNDS} rounds, range ${health.ratioRange.join('–')}; goal ≥ 0.8×); Tributary alone ${health.tributaryAloneRps} req/s (seed 004 claimed 6,000)`,
    );
    bare.kill();
    await fresh.stop();
  }

  const result = {
    benchmark: name,
    env: environment(),
    metricsCost: {
      rounds: ROUNDS,
      method: 'both sides loaded at once, pinned together to the last core; CPU and tokens over the same windows',
      warmUpMs: WARM_UP_MS,
      windowsPerRound: WINDOWS,
      windowMs: WINDOW_MS,
      concurrentPerSide: CONCURRENT,
      modelsPerComparison: PER_COMPARISON,
      tokensPerModel: TOKENS,
      ...(SELF ? { selfTest: 'metrics on in both sides' } : {}),
      ratio: round(median(ratios), 3),
      ratioRange: [Math.min(...ratios), Math.max(...ratios)],
      goalRatio: 1.03,
      perRound: rounds,
    },
    scrape,
    health,
  };
  console.log(
    `[${name}] CPU per token with metrics on / off: ${result.metricsCost.ratio}× (median of ${ROUNDS} process pairs, range ${result.metricsCost.ratioRange.join('–')}; goal ≤ 1.03×)`,
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
  return { port, pid: child.pid, kill: () => child.kill() };
}
