/**
 * What operations cost: compare-fanout server CPU per token with metrics on against off (fresh
 * process pairs, blocks alternating; BENCH_REPETITIONS pairs, 12; BENCH_OPS_SELF=1 for an A/A
 * run), a `/metrics` scrape with 50 models' histograms, and `/health` requests/s of a fresh server
 * against a bare Fastify app with wrk (Debian's `wrk`; skipped with the reason when it is missing).
 */
import { execFile, fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pairRound, ratiosOf } from './lib/pair-round.js';
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
/** Batches of CONCURRENT comparisons per side before the blocks (JIT, SQLite pages, the history filling). */
const WARM_UP_BATCHES = Number(process.env.BENCH_WARM_UP_WINDOWS) || 2;
/** ABBA pairs of measured blocks per round. */
const BLOCKS = 2;
const BLOCK_MS = Number(process.env.BENCH_OPS_BLOCK_MS) || 4000;
const SELF = process.env.BENCH_OPS_SELF === '1';
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
  const agent = keepAliveAgent();
  cleanup.add(() => agent.destroy());
  const overrides = (metricsEnabled) => ({ ops: { metricsEnabled }, compare: { maxModels: 64 } });

  // 1. CPU per token, metrics on vs off, over fresh pairs of server processes (bench/lib/pair-round.js):
  // with one process per side for the whole run, two runs read 1.048× and 0.964×, and 1.078× a third.
  const rounds = [];
  let kept;
  for (let r = 0; r < ROUNDS; r++) {
    const last = r === ROUNDS - 1;
    const { per, servers } = await pairRound({
      // BENCH_OPS_SELF=1: metrics on in both (an A/A run: how far this method scatters here).
      sides: { on: { root: ROOT, overrides: overrides(true) }, off: { root: ROOT, overrides: overrides(SELF) } },
      order: r % 2 ? ['off', 'on'] : ['on', 'off'],
      models,
      bodyFor: (n) => ({ input_data: `ops bench ${n}`, models: modelsFor(n), tier: 'standard' }),
      concurrency: CONCURRENT,
      warmUpBatches: WARM_UP_BATCHES,
      blocks: BLOCKS,
      blockMs: BLOCK_MS,
      agent,
      cleanup,
      keep: last, // the last round's metrics-on server answers the scrape (and /health, supplementary) below
    });
    rounds.push({ on: per.on, off: per.off, cpuRatio: ratiosOf(per.on, per.off).cpuRatio });
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

  // 3. /health requests/s: a fresh Tributary (metrics on, request log off) against a bare Fastify
  // app, both processes that have served nothing else, with the loaded metrics-on server from the
  // rounds above measured in the same turns (supplementary: after streaming, its /health is slower).
  let health = { skipped: 'wrk not installed (apt-get install wrk)' };
  if (await hasWrk()) {
    const bare = await startBareFastify();
    cleanup.add(() => bare.kill());
    const dataDir = mkdtempSync(join(tmpdir(), 'tributary-ops-health-'));
    cleanup.add(() => rmSync(dataDir, { recursive: true, force: true }));
    const fresh = await startServerChild({ target: 'tributary', dataDir, models, overrides: overrides(true) });
    cleanup.add(() => fresh.stop());
    const targets = {
      tributary: `http://127.0.0.1:${fresh.port}/health`,
      fastify: `http://127.0.0.1:${bare.port}/health`,
      tributaryAfterStreams: `http://127.0.0.1:${kept.on.port}/health`,
    };
    // A warm-up run each (JIT), then rounds in rotating order; the best round of each counts (noise only slows).
    for (const u of Object.values(targets)) await wrk(u, 1);
    const best = { tributary: 0, fastify: 0, tributaryAfterStreams: 0 };
    const entries = Object.entries(targets);
    for (let r = 0; r < WRK_ROUNDS; r++) {
      for (let i = 0; i < entries.length; i++) {
        const [k, u] = entries[(r + i) % entries.length];
        best[k] = Math.max(best[k], await wrk(u));
      }
    }
    health = {
      tool: `wrk -t1 -c50 -d${WRK_SECONDS}s, best of ${WRK_ROUNDS} rounds in rotating order after a warm-up`,
      tributaryRps: Math.round(best.tributary),
      bareFastifyRps: Math.round(best.fastify),
      ratio: round(best.tributary / best.fastify),
      goalRatio: 0.8,
      afterStreams: { tributaryRps: Math.round(best.tributaryAfterStreams), ratio: round(best.tributaryAfterStreams / best.fastify) },
      seed004ClaimedRps: 6000,
    };
    console.log(
      `[${name}] /health: Tributary ${health.tributaryRps} req/s, bare Fastify ${health.bareFastifyRps} req/s (${health.ratio}×; seed 004 claimed 6,000); the server that streamed the rounds ${health.afterStreams.tributaryRps} req/s (${health.afterStreams.ratio}×)`,
    );
    bare.kill();
    await fresh.stop();
  }
  await kept.on.stop();

  const result = {
    benchmark: name,
    env: environment(),
    metricsCost: {
      rounds: ROUNDS,
      warmUpBatchesPerSide: WARM_UP_BATCHES,
      blocksPerRound: BLOCKS,
      blockMs: BLOCK_MS,
      concurrent: CONCURRENT,
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
  return { port, kill: () => child.kill() };
}
