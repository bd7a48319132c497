import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { ComparisonService } from './compare/comparison-service.js';
import type { Config } from './config/schema.js';
import type { AppContext } from './http/context.js';
import { installErrorHandling, type NotFoundFallback } from './http/error-handler.js';
import { clientConfigRoutes } from './http/routes/client-config.js';
import { serveWebApp } from './http/web-app.js';
import { comparisonRoutes } from './http/routes/comparisons.js';
import { metaRoutes } from './http/routes/meta.js';
import { realtimeRoutes } from './http/routes/realtime.js';
import { openaiGatewayRoutes } from './http/routes/openai-gateway.js';
import { ChatCompletions } from './gateway/chat-completions.js';
import { seedRoutes } from './http/routes/seed.js';
import { ModelCatalogue } from './llm/catalogue.js';
import { buildProviders } from './llm/build-providers.js';
import type { Provider } from './llm/provider.js';
import { Flags, InProcessFlagBus } from './ops/flags.js';
import { FlagService } from './ops/flag-service.js';
import { identityKeyOf } from './ops/identity-key.js';
import { OpsMetrics } from './ops/metrics.js';
import { OpsSignals } from './ops/signals.js';
import { Alerts, alertWebhook } from './ops/alerts.js';
import { OpsSnapshots } from './ops/snapshot.js';
import { observeRequests } from './http/observe-requests.js';
import { opsRoutes } from './http/routes/ops.js';
import { createRealtime } from './realtime/realtime.js';
import { openStore } from './store/open-store.js';
import { StreamHub } from './streams/hub.js';
import { MemoryBackend } from './streams/memory-backend.js';
import { realtimeWebSockets } from './transports/ws-server.js';

export interface AppOptions {
  /** Replaces the providers built from config (tests wrap the demo provider to observe it). */
  providers?: Provider[];
  /** Where log lines go instead of stdout (tests read them). */
  logStream?: { write(line: string): void };
}

export interface App {
  fastify: FastifyInstance;
  ctx: AppContext;
  /** Starts listening on the configured host and port; resolves to the base URL. */
  listen(): Promise<string>;
  /** Graceful: running generations get `shutdownGraceMs` to finish, then writes are flushed. */
  close(): Promise<void>;
}

/** Assembles an un-started server from a config. No global state: tests build many. */
export async function buildApp(config: Config, opts: AppOptions = {}): Promise<App> {
  const store = await openStore({
    dataDir: config.dataDir,
    databaseUrl: config.database.url,
    schema: config.database.schema,
    flushIntervalMs: config.usage.flushIntervalMs,
    batchSize: config.usage.batchSize,
  });
  await store.markInterrupted();
  const fastify = Fastify({
    logger: { level: config.log.level, ...(opts.logStream ? { stream: opts.logStream } : {}) },
    bodyLimit: config.server.bodyLimitBytes,
    // Per-request lines only when debugging: a streaming server's requests are long and many.
    logController: new LogController({ disableRequestLogging: config.log.level !== 'debug' && config.log.level !== 'trace' }),
  });
  const warn = (message: string) => fastify.log.warn(message);
  let catalogue: ModelCatalogue | undefined;
  const signals = new OpsSignals(config.ops.alerts.windowSeconds * 1000);
  const metrics = config.ops.metricsEnabled
    ? new OpsMetrics((id) => {
      const info = catalogue?.resolve(id)?.info;
      return info && { model: info.id, provider: info.provider };
    }, signals)
    : undefined;
  const built = opts.providers ?? buildProviders(config, warn);
  const providers = metrics ? built.map((p) => metrics.instrument(p)) : built;
  catalogue = new ModelCatalogue(providers, warn);
  await catalogue.refresh();
  catalogue.refreshEvery(config.catalogue.refreshSeconds * 1000);
  const { history } = config.streams;
  const backend = new MemoryBackend(() => ({ size: history.size, ttlMs: history.ttlSeconds * 1000 }), {
    maxTotalEvents: config.streams.maxEventsTotal,
  });
  const hub = new StreamHub(backend, { maxReplay: config.streams.maxReplay, subscriberBufferBytes: config.streams.subscriberBufferBytes }, metrics?.hubObserver);
  const comparisons = new ComparisonService({
    hub, catalogue, store, config: config.compare,
    onError: (err, comparisonId) => fastify.log.error({ err, comparisonId }, 'comparison failed'),
  });
  const realtime = createRealtime(config.realtime, hub);
  const flags = new Flags(config.flags);
  const flagService = new FlagService(flags, store.opsData, new InProcessFlagBus());
  await flagService.start();
  const identityKey = (request: Parameters<typeof identityKeyOf>[0]) => identityKeyOf(request, config.ops.anonymousCookieSecret);
  metrics?.exposeRealtime(realtime.metrics);
  const alerts = new Alerts(config.ops.alerts, signals, realtime.metrics);
  const { webhookUrl } = config.ops.alerts;
  if (webhookUrl) alerts.onChange(alertWebhook(webhookUrl, (err) => fastify.log.warn({ err }, 'alert webhook failed')));
  alerts.onChange((alert) => fastify.log.warn({ alert: alert.name, state: alert.state, value: alert.value }, 'alert'));
  const snapshots = new OpsSnapshots({ hub, signals, realtime: realtime.metrics, flags, alerts, gaps: metrics?.gap }, config.ops.snapshotIntervalMs);
  if (metrics) {
    alerts.start();
    // The dashboard's feed changes as soon as a flag or an alert does, not only on the next tick.
    alerts.onChange(() => void snapshots.publish().catch(() => undefined));
    flags.onChange(() => void snapshots.publish().catch(() => undefined));
    snapshots.start();
  }
  const ctx: AppContext = {
    config, hub, comparisons, catalogue, store, flags, startedAt: new Date(), realtime, ops: { metrics, signals, alerts, flagService, identityKeyOf: identityKey },
    stream: { hub, comparisons, sse: { retryMs: config.streams.sseRetryMs, heartbeatMs: config.streams.sseHeartbeatMs } },
    gateway: new ChatCompletions({ catalogue, tiers: config.compare.tiers }),
  };

  const notFoundFallback: { current?: NotFoundFallback } = {};
  installErrorHandling(fastify, notFoundFallback);
  observeRequests(fastify, config, metrics);
  opsRoutes(fastify, ctx);
  metaRoutes(fastify, ctx);
  comparisonRoutes(fastify, ctx);
  seedRoutes(fastify, ctx);
  openaiGatewayRoutes(fastify, ctx);
  clientConfigRoutes(fastify, ctx);
  realtimeRoutes(fastify, ctx);
  const websockets = realtimeWebSockets(realtime, flags, identityKey);
  websockets.attach(fastify.server);
  if (config.web.enabled) notFoundFallback.current = await serveWebApp(fastify, config.web.dir);

  let closing: Promise<void> | undefined;
  return {
    fastify,
    ctx,
    async listen() {
      await fastify.listen({ host: config.server.host, port: config.server.port });
      const address = fastify.server.address();
      const port = typeof address === 'object' && address ? address.port : config.server.port;
      const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? 'localhost' : config.server.host;
      return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    },
    close() {
      closing ??= (async () => {
        const stopped = fastify.close(); // refuse new requests at once; streams drain below
        alerts.stop();
        snapshots.stop();
        await comparisons.close(config.server.shutdownGraceMs);
        realtime.publisher.close(); // what was accepted is in the log; clients get it, then 1012
        await websockets.close();
        await hub.close();
        await flagService.close();
        // Streams have ended; a socket that never sent a request would hold close() until its headers timeout.
        await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
        fastify.server.closeAllConnections();
        await stopped;
        await catalogue.close();
        await backend.close();
        await store.close();
      })();
      return closing;
    },
  };
}
