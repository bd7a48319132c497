/**
 * One server under test, in its own process so that neither the client's work nor the other
 * target counts in its CPU, heap or GC figures. `target` is 'tributary' (the real app, built
 * with loadConfig + buildApp) or 'direct' (the node:http floor); both stream from the same
 * stamping demo provider. Answers the parent over IPC: clock, begin/end of a measurement
 * window, and the yield stamps.
 *
 * argv[2]: JSON { target, dataDir?, models: { [id]: DemoModelConfig }, overrides?: ConfigInput (Tributary only) }
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { watchBacklog } from './lib/backlog-watch.js';
import { DemoProvider } from '../packages/server/dist/llm/demo-provider.js';
import { now } from './lib/clock.js';
import { eldStats } from './lib/stats.js';
import { createDirectServer } from './lib/direct-server.js';
import { watchGc } from './lib/gc-watch.js';
import { StampingProvider } from './lib/stamping-provider.js';
import { NO_LIMITS } from './lib/no-limits.js';

const ELD_RESOLUTION_MS = 10;
const { target, dataDir, models, overrides = {} } = JSON.parse(process.argv[2]);

// Leave at once if the parent goes away (crash, Ctrl-C): never outlive the bench.
process.on('disconnect', () => process.exit(0));
// Warnings are printed once per kind (the child runs with --no-warnings) and counted.
const warned = new Map();
process.on('warning', (w) => {
  const key = `${w.name}: ${w.message.replace(/\d+/g, 'N')}`;
  warned.set(key, (warned.get(key) ?? 0) + 1);
  if (warned.get(key) === 1) console.error(`[${target} server] ${w.name}: ${w.message} (repeats are counted, not printed)`);
});

const provider = new StampingProvider(new DemoProvider({ speed: 1, models }));
const server = target === 'tributary' ? await startTributary() : await startDirect();

async function startTributary() {
  const { buildApp } = await import('../packages/server/dist/app.js');
  const { loadConfig } = await import('../packages/server/dist/config/load.js');
  const config = loadConfig({
    env: {},
    // Limits off: this bench measures streaming, not quotas (bench/identity-overhead.js measures those).
    overrides: {
      ...overrides,
      server: { host: '127.0.0.1', port: 0 },
      dataDir,
      log: { level: 'silent' },
      demo: { speed: 1, models },
      identity: { limits: { anonymous: NO_LIMITS } },
    },
  });
  const app = await buildApp(config, { providers: [provider] });
  const url = await app.listen();
  return { port: Number(new URL(url).port), http: app.fastify.server, close: () => app.close(), stats: () => ({ hub: app.ctx.hub.stats() }) };
}

async function startDirect() {
  const direct = createDirectServer(provider);
  return { port: await direct.listen(), http: direct.server, close: () => direct.close(), stats: () => ({}) };
}

const gc = watchGc();
const backlog = watchBacklog(server.http);
let window = null;

const handlers = {
  clock: () => ({ t: now() }),
  begin() {
    globalThis.gc?.(); // each window starts from a collected heap
    provider.clear();
    const mem = process.memoryUsage();
    // A fresh histogram per window: re-enabling one would count the pause in between as a delay.
    const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
    eld.enable();
    backlog.reset();
    window = { eld, cpu: process.cpuUsage(), start: now(), yields: provider.yields };
    return { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, ...server.stats() };
  },
  async end() {
    const cpu = process.cpuUsage(window.cpu);
    const wallMs = now() - window.start;
    window.eld.disable();
    const mem = process.memoryUsage();
    return {
      cpu: { userUs: cpu.user, systemUs: cpu.system },
      tokens: provider.yields - window.yields,
      wallMs,
      eventLoopDelayMs: eldStats(window.eld, ELD_RESOLUTION_MS),
      backlog: backlog.stats(),
      gcPauses: await gc.since(window.start),
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      warnings: Object.fromEntries(warned),
      ...server.stats(),
    };
  },
  stamps: () => ({ stamps: provider.take() }),
  async close() {
    gc.stop();
    backlog.stop();
    await server.close();
    return {};
  },
};

process.on('message', async ({ id, cmd, args }) => {
  try {
    const result = await handlers[cmd](args ?? {});
    process.send({ id, ok: true, result });
    if (cmd === 'close') process.disconnect();
  } catch (err) {
    process.send({ id, ok: false, error: String(err?.stack ?? err) });
  }
});

process.send({ type: 'ready', port: server.port, eldResolutionMs: ELD_RESOLUTION_MS });
