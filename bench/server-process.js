/**
 * One server under test, in its own process so that neither the client's work nor the other
 * target counts in its CPU, heap or GC figures. `target` is 'tributary' (the real app, built
 * with loadConfig + buildApp) or 'direct' (the node:http floor); both stream from the same
 * stamping demo provider. Answers the parent over IPC: clock, begin/end of a measurement
 * window, and the yield stamps.
 *
 * argv[2]: JSON { target, dataDir?, models: { [id]: DemoModelConfig } }
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DemoProvider } from '../packages/server/dist/llm/demo-provider.js';
import { now } from './lib/clock.js';
import { createDirectServer } from './lib/direct-server.js';
import { watchGc } from './lib/gc-watch.js';
import { StampingProvider } from './lib/stamping-provider.js';

const ELD_RESOLUTION_MS = 10;
const { target, dataDir, models } = JSON.parse(process.argv[2]);

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
    overrides: { server: { host: '127.0.0.1', port: 0 }, dataDir, log: { level: 'silent' }, demo: { speed: 1, models } },
  });
  const app = await buildApp(config, { providers: [provider] });
  const url = await app.listen();
  return { port: Number(new URL(url).port), close: () => app.close(), stats: () => ({ hub: app.ctx.hub.stats() }) };
}

async function startDirect() {
  const direct = createDirectServer(provider);
  return { port: await direct.listen(), close: () => direct.close(), stats: () => ({}) };
}

const gc = watchGc();
/** One event-loop-delay histogram per scenario, enabled only inside that scenario's windows. */
const eldByScenario = new Map();
let window = null;

const handlers = {
  clock: () => ({ t: now() }),
  begin({ scenario }) {
    globalThis.gc?.(); // each window starts from a collected heap
    provider.clear();
    const mem = process.memoryUsage();
    let eld = eldByScenario.get(scenario);
    if (!eld) eldByScenario.set(scenario, (eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS })));
    eld.enable();
    window = { eld, cpu: process.cpuUsage(), start: now() };
    return { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed };
  },
  async end() {
    const cpu = process.cpuUsage(window.cpu);
    const wallMs = now() - window.start;
    window.eld.disable();
    const mem = process.memoryUsage();
    // The histogram records whole timer intervals: delay = sample − resolution. Cumulative per scenario.
    const excess = (ns) => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS);
    const { eld } = window;
    return {
      cpu: { userUs: cpu.user, systemUs: cpu.system },
      wallMs,
      eventLoopDelayMs: { p50: excess(eld.percentile(50)), p99: excess(eld.percentile(99)), max: excess(eld.max), samples: eld.count },
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
