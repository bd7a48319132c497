/**
 * A/B of today's build against another one, at ×1 (sequential comparisons, 12 zero-delay models
 * of 250 tokens) or ×N, with a fresh pair of server processes per round:
 *
 *   node bench/ab.js <baseline> [rounds]
 *
 * `baseline`: a patch in bench/baselines/ (e.g. `no-durability`), a git revision, the path of a
 * built checkout, or `self` (an A/A run: today's build against itself, which shows how far two
 * processes of the same code differ here). One server process per side carries a bias of its own
 * that alternating windows cannot cancel: A/A pairs of one process each measured 0.90–1.01× on
 * the same machine (2026-12-02).
 * So each round starts both servers anew (bench/lib/pair-round.js), alternates ABBA blocks, flips
 * which side goes first, and the figure is the median of the rounds' ratios (use an even number
 * of rounds). Env: BENCH_AB_BLOCKS (4 per round), BENCH_AB_MS (3000 per block),
 * BENCH_AB_CONCURRENCY (1). Needs `npm run build` first.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareBaseline } from './lib/baseline.js';
import { environment } from './lib/report.js';
import { pairRound, ratiosOf } from './lib/pair-round.js';
import { keepAliveAgent } from './lib/sse-client.js';
import { median, round } from './lib/stats.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const [spec, roundsArg] = process.argv.slice(2);
if (!spec) {
  console.error('usage: node bench/ab.js <baseline patch | git revision | checkout path | self> [rounds]');
  process.exit(2);
}
const ROUNDS = Number(roundsArg) || 8;
const BLOCKS = Number(process.env.BENCH_AB_BLOCKS) || 4;
const BLOCK_MS = Number(process.env.BENCH_AB_MS) || 3000;
const CONCURRENCY = Number(process.env.BENCH_AB_CONCURRENCY) || 1;
const models = Object.fromEntries(
  Array.from({ length: 12 }, (_, i) => [`demo/ab-${i + 1}`, { name: `AB ${i + 1}`, firstTokenMs: 0, tokensPerSecond: 1e9, answerTokens: 250, flaky: false }]),
);

const cleanups = [];
const cleanup = { add: (fn) => cleanups.push(fn) };
/** A built checkout given by its path is used as it is (e.g. a worktree with one piece of a change taken out). */
const isCheckout = spec !== 'self' && existsSync(join(spec, 'bench/lib/server-child.js'));
const before = spec === 'self' ? ROOT : isCheckout ? spec : prepareBaseline(spec, cleanup);
const agent = keepAliveAgent();

async function pairOf(r) {
  // Which side starts and warms up first flips per round (the blocks' order is symmetric within one).
  const { per } = await pairRound({
    sides: { after: { root: ROOT }, before: { root: before } },
    order: r % 2 ? ['before', 'after'] : ['after', 'before'],
    models,
    bodyFor: (n) => ({ input_data: `ab ${n}`, models: Object.keys(models), tier: 'standard' }),
    concurrency: CONCURRENCY,
    warmUpBatches: Math.ceil(20 / CONCURRENCY), // at least 20 comparisons (60,000 tokens) a side
    blocks: BLOCKS,
    blockMs: BLOCK_MS,
    agent,
    cleanup,
  });
  return {
    tokensPerSec: { after: per.after.tokensPerSec, before: per.before.tokensPerSec },
    cpuUsPerToken: { after: per.after.cpuUsPerToken, before: per.before.cpuUsPerToken },
    ...ratiosOf(per.after, per.before),
  };
}

try {
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const result = await pairOf(r);
    rounds.push(result);
    console.log(`[ab] round ${r + 1}/${ROUNDS}: events/s ${result.ratio}× at ${result.cpuRatio}× CPU per token`);
  }
  const result = {
    benchmark: 'ab',
    env: environment(),
    baseline: spec,
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    blocksPerRound: BLOCKS,
    blockMs: BLOCK_MS,
    ratioMedian: round(median(rounds.map((r) => r.ratio))),
    cpuRatioMedian: round(median(rounds.map((r) => r.cpuRatio))),
    ratioRange: [Math.min(...rounds.map((r) => r.ratio)), Math.max(...rounds.map((r) => r.ratio))],
    perRound: rounds,
  };
  console.log(
    `[ab] today's build against ${spec} at ×${CONCURRENCY}: events/s ${result.ratioMedian}× (median of ${ROUNDS} process pairs, range ${result.ratioRange.join('–')}), CPU per token ${result.cpuRatioMedian}×`,
  );
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `ab-${isCheckout ? 'checkout' : spec.replace(/[^\w.-]/g, '_')}-x${CONCURRENCY}.json`), `${JSON.stringify(result, null, 2)}\n`);
} finally {
  agent.destroy();
  while (cleanups.length) await cleanups.pop()();
}
process.exit(0);
