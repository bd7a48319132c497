/**
 * The soak's server: the real app (loadConfig + buildApp from dist) in its own process. Its
 * health figures leave only over the IPC channel to the soak (no HTTP endpoint): `sample`
 * answers memory, event-loop delay since the last sample, handles and file descriptors;
 * `heapSnapshot` writes one to a path (for comparing two points of a run).
 *
 * argv[2]: JSON { dataDir, config } (config: overrides for loadConfig)
 */
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { serveRequests } from './ipc-requests.js';
import { NO_LIMITS } from './no-limits.js';

const { dataDir, config: overrides } = JSON.parse(process.argv[2]);
process.on('disconnect', () => process.exit(0));

const { buildApp } = await import('../../packages/server/dist/app.js');
const { loadConfig } = await import('../../packages/server/dist/config/load.js');
const config = loadConfig({
  env: {},
  // Limits off: the soak measures streaming and memory, not quotas (identity tests cover those).
  overrides: {
    identity: { limits: { anonymous: NO_LIMITS } },
    ...overrides,
    server: { host: '127.0.0.1', port: 0, ...overrides.server },
    dataDir,
    log: { level: 'warn' },
  },
});
const app = await buildApp(config);
const url = await app.listen();

let eld = monitorEventLoopDelay({ resolution: 10 });
eld.enable();

/** Events and topics held per kind of topic (`public`, `comparison` …) and the oldest event's age: where memory sits. */
function historyByKind() {
  const topics = app.ctx.hub.backend.topics; // the memory backend's map (a soak-only look inside)
  if (!(topics instanceof Map)) return null;
  const out = {};
  const now = Date.now();
  for (const [name, log] of topics) {
    const kind = name.slice(0, name.indexOf(':'));
    const k = (out[kind] ??= { topics: 0, events: 0, oldestAgeS: 0 });
    k.topics++;
    k.events += log.events.length;
    if (log.events.length) k.oldestAgeS = Math.max(k.oldestAgeS, Math.round((now - log.events[0].time) / 1000));
  }
  return out;
}

serveRequests({
  sample({ gc = false } = {}) {
    if (gc) globalThis.gc?.();
    const mem = process.memoryUsage();
    const delay = eld;
    delay.disable();
    eld = monitorEventLoopDelay({ resolution: 10 });
    eld.enable();
    const ms = (ns) => Math.max(0, ns / 1e6 - 10); // the histogram counts the sampling resolution itself
    return {
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      heapTotalBytes: mem.heapTotal,
      externalBytes: mem.external,
      arrayBuffersBytes: mem.arrayBuffers,
      eldP50Ms: ms(delay.percentile(50)),
      eldP99Ms: ms(delay.percentile(99)),
      eldMaxMs: ms(delay.max),
      handles: process.getActiveResourcesInfo().length,
      fds: readdirSync('/proc/self/fd').length,
      hub: app.ctx.hub.stats(),
      heldEvents: app.ctx.hub.backend.heldEvents?.() ?? null,
      history: historyByKind(),
    };
  },
  heapSnapshot({ path }) {
    globalThis.gc?.();
    return writeHeapSnapshot(path);
  },
  async close() {
    await app.close();
    setImmediate(() => process.exit(0));
    return true;
  },
});
process.send({ type: 'ready', url });
