/**
 * The servers under test, in their own process so the client's work does not count as server
 * CPU. Serves Tributary (the real app) and the direct peer from the same stamping demo
 * provider, and answers the parent over IPC: clock, begin/end of a measurement window, stamps.
 *
 * argv[2]: JSON { dataDir, models: { [id]: DemoModelConfig } }
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { buildApp } from '../packages/server/dist/app.js';
import { loadConfig } from '../packages/server/dist/config/load.js';
import { DemoProvider } from '../packages/server/dist/llm/demo-provider.js';
import { now } from './lib/clock.js';
import { createDirectServer } from './lib/direct-server.js';
import { StampingProvider } from './lib/stamping-provider.js';

const ELD_RESOLUTION_MS = 10;

const { dataDir, models } = JSON.parse(process.argv[2]);
// Warnings are printed once per kind (with --no-warnings) so a repeated one cannot flood the table.
const warned = new Map();
process.on('warning', (w) => {
  const key = `${w.name}: ${w.message.replace(/\d+/g, 'N')}`;
  const n = (warned.get(key) ?? 0) + 1;
  warned.set(key, n);
  if (n === 1) console.error(`[server process] ${w.name}: ${w.message} (further ones of this kind counted, not printed)`);
});
// Leave at once if the parent goes away (crash, Ctrl-C): never outlive the bench.
process.on('disconnect', () => process.exit(0));

const provider = new StampingProvider(new DemoProvider({ speed: 1, models }));
const config = loadConfig({
  env: {},
  overrides: {
    server: { host: '127.0.0.1', port: 0 },
    dataDir,
    log: { level: 'silent' },
    demo: { speed: 1, models },
  },
});
const app = await buildApp(config, { providers: [provider] });
const tributaryUrl = await app.listen();
const direct = createDirectServer(provider, { maxOutputTokens: config.compare.tiers.standard.maxOutputTokens });
const directPort = await direct.listen();

const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
eld.enable();
let cpuStart = process.cpuUsage();
let windowStart = now();

const handlers = {
  clock: () => ({ t: now() }),
  begin() {
    globalThis.gc?.(); // each window starts from a collected heap, whatever ran before
    provider.clear();
    const mem = process.memoryUsage();
    eld.reset();
    cpuStart = process.cpuUsage();
    windowStart = now();
    return { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed };
  },
  end() {
    const cpu = process.cpuUsage(cpuStart);
    const wallMs = now() - windowStart;
    // The histogram records the whole timer interval: delay = sample - resolution.
    const excess = (ns) => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS);
    const mem = process.memoryUsage();
    return {
      cpu: { userUs: cpu.user, systemUs: cpu.system },
      wallMs,
      eventLoopDelayMs: { p50: excess(eld.percentile(50)), p99: excess(eld.percentile(99)), max: excess(eld.max), samples: eld.count },
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      hub: app.ctx.hub.stats(),
      warnings: Object.fromEntries(warned),
    };
  },
  stamps: () => ({ stamps: provider.take() }),
  async close() {
    eld.disable();
    await Promise.all([app.close(), direct.close()]);
    return {};
  },
};

process.on('message', async (msg) => {
  try {
    const result = await handlers[msg.cmd]();
    process.send({ id: msg.id, ok: true, result });
    if (msg.cmd === 'close') process.disconnect();
  } catch (err) {
    process.send({ id: msg.id, ok: false, error: String(err?.stack ?? err) });
  }
});

process.send({
  type: 'ready',
  tributaryPort: Number(new URL(tributaryUrl).port),
  directPort,
  eldResolutionMs: ELD_RESOLUTION_MS,
});
