import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pin, unpin } from './pin.js';
import { streamComparison, tokensOf } from './sse-client.js';
import { round } from './stats.js';

/**
 * One round of an A/B comparison on a fresh pair of server processes (bench/ab.js, ops-overhead,
 * compare-fanout's before/after section). One process per side carries a bias of its own that
 * alternating windows cannot cancel (A/A pairs here read 0.89–1.14×), so a figure is the median
 * over rounds.
 *
 * `sides`: two named sides, `{ root, overrides }` each (`root`: the checkout whose
 * bench/lib/server-child.js starts the server). `order`: which side starts and warms up first;
 * callers flip it per round. `blocks`: pairs of measured blocks, ABBA. A batch is `concurrency`
 * comparisons; `bodyFor(n)` gives the n-th one's body. With `keep`, the servers are left running
 * and returned.
 */
export async function pairRound({ sides, order, models, bodyFor, concurrency, warmUpBatches, blocks, blockMs, agent, cleanup, keep = false }) {
  const servers = await startSides(sides, order, models, cleanup);
  let n = 0;
  const batch = (side) => Promise.all(Array.from({ length: concurrency }, () => streamComparison({ port: servers[side].port, agent, body: bodyFor(++n) })));
  for (const side of order) for (let i = 0; i < warmUpBatches; i++) await batch(side);
  const sums = Object.fromEntries(order.map((side) => [side, { ms: 0, tokens: 0, cpuUs: 0 }]));
  // The blocks start with the side that warmed up last, so within each ABBA each side follows the
  // other once and itself once: a block can pay for the previous one's deferred work (GC, the
  // WAL checkpoint thread), and starting with the first side made it follow the other twice.
  const blockOrder = [...order].reverse();
  for (let b = 0; b < blocks; b++) {
    for (const side of b % 2 ? order : blockOrder) {
      await servers[side].request('begin');
      const t0 = performance.now();
      while (performance.now() - t0 < blockMs) sums[side].tokens += tokensOf(await batch(side));
      sums[side].ms += performance.now() - t0;
      const end = await servers[side].request('end');
      await servers[side].request('stamps'); // not analysed: let them go
      sums[side].cpuUs += end.cpu.userUs + end.cpu.systemUs;
    }
  }
  if (!keep) await Promise.all(Object.values(servers).map((s) => s.stop()));
  const per = perSide(order, sums);
  return { per, ...(keep ? { servers } : {}) };
}

/** Side `a` against side `b` of one round: events/s and CPU per token, as ratios. */
export const ratiosOf = (a, b) => ({ ratio: round(a.tokensPerSec / b.tokensPerSec), cpuRatio: round(a.cpuUsPerToken / b.cpuUsPerToken) });

/**
 * One round of an A/B comparison with both sides loaded at the same time: a fresh pair of server
 * processes, pinned together to the last core (this process, the client, on the others), each
 * kept at `concurrency` comparisons in flight, and measured over the same windows. Whatever the
 * host does meanwhile (steal, a neighbour's cache) falls on both sides at once: run one after
 * the other, blocks of the same process pair read 0.89–1.14× of each other; measured together,
 * windows and rounds of an A/A pair scatter about ±4 %. Tokens are counted where they are made
 * (the server's provider), so a window's count is exact. Same options as `pairRound`, with
 * `warmUpMs`, `windows` and `windowMs` instead of batches and blocks.
 */
export async function simultaneousRound({ sides, order, models, bodyFor, concurrency, warmUpMs, windows, windowMs, agent, cleanup, keep = false }) {
  const servers = await startSides(sides, order, models, cleanup);
  const pinned = pin(order.map((side) => servers[side].pid));
  let n = 0;
  let stopping = false;
  const load = order.map((side) =>
    Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (!stopping) await streamComparison({ port: servers[side].port, agent, body: bodyFor(++n) });
      }),
    ),
  );
  const sums = Object.fromEntries(order.map((side) => [side, { ms: 0, tokens: 0, cpuUs: 0 }]));
  try {
    await sleep(warmUpMs);
    for (let w = 0; w < windows; w++) {
      await Promise.all(order.map((side) => servers[side].request('begin')));
      await sleep(windowMs);
      const ends = await Promise.all(order.map((side) => servers[side].request('end')));
      order.forEach((side, i) => {
        const s = sums[side];
        s.ms += ends[i].wallMs;
        s.tokens += ends[i].tokens;
        s.cpuUs += ends[i].cpu.userUs + ends[i].cpu.systemUs;
      });
      await Promise.all(order.map((side) => servers[side].request('stamps'))); // not analysed: let them go
    }
  } finally {
    stopping = true;
    await Promise.all(load);
    if (pinned) unpin(); // later children (the next round's servers, wrk) must not inherit this core
  }
  if (!keep) await Promise.all(Object.values(servers).map((s) => s.stop()));
  const per = perSide(order, sums);
  return { per, pinned, ...(keep ? { servers } : {}) };
}

/** A fresh server process per side, in `order`, each on its own data directory. */
async function startSides(sides, order, models, cleanup) {
  const servers = {};
  for (const side of order) {
    const { startServerChild } = await import(join(sides[side].root, 'bench/lib/server-child.js'));
    const dataDir = mkdtempSync(join(tmpdir(), `tributary-pair-${side}-`));
    cleanup.add(() => rmSync(dataDir, { recursive: true, force: true }));
    servers[side] = await startServerChild({ target: 'tributary', dataDir, models, overrides: sides[side].overrides ?? {} });
    cleanup.add(() => servers[side].stop());
  }
  return servers;
}

/** Each side's tokens/s and CPU per token from its sums over the measured blocks or windows. */
const perSide = (order, sums) =>
  Object.fromEntries(
    order.map((side) => {
      const s = sums[side];
      return [side, { tokensPerSec: Math.round((s.tokens / s.ms) * 1000), cpuUsPerToken: round(s.cpuUs / s.tokens) }];
    }),
  );
