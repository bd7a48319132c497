import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { ComparisonService } from './compare/comparison-service.js';
import type { Config } from './config/schema.js';
import type { AppContext } from './http/context.js';
import { installErrorHandling, type NotFoundFallback } from './http/error-handler.js';
import { installJsonBodyParser } from './http/json-body.js';
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
import { Flags } from './ops/flags.js';
import { createRealtime } from './realtime/realtime.js';
import { openStore } from './store/open-store.js';
import { StreamHub } from './streams/hub.js';
import { MemoryBackend } from './streams/memory-backend.js';
import { realtimeWebSockets } from './transports/ws-server.js';

export interface AppOptions {
  /** Replaces the providers built from config (tests wrap the demo provider to observe it). */
  providers?: Provider[];
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
    logger: { level: config.log.level },
    bodyLimit: config.server.bodyLimitBytes,
    // Slow headers / slow bodies (Slowloris): only the request is timed, never a streamed response.
    requestTimeout: config.server.requestTimeoutMs,
    http: { headersTimeout: config.server.headersTimeoutMs, connectionsCheckingInterval: Math.min(1_000, config.server.headersTimeoutMs) },
    // Per-request lines only when debugging: a streaming server's requests are long and many.
    logController: new LogController({ disableRequestLogging: config.log.level !== 'debug' && config.log.level !== 'trace' }),
  });
  const warn = (message: string) => fastify.log.warn(message);
  const providers = opts.providers ?? buildProviders(config, warn);
  const catalogue = new ModelCatalogue(providers, warn);
  await catalogue.refresh();
  catalogue.refreshEvery(config.catalogue.refreshSeconds * 1000);
  const { history } = config.streams;
  const backend = new MemoryBackend(() => ({ size: history.size, ttlMs: history.ttlSeconds * 1000 }), {
    maxTotalEvents: config.streams.maxEventsTotal,
  });
  const hub = new StreamHub(backend, {
    maxReplay: config.streams.maxReplay, subscriberBufferBytes: config.streams.subscriberBufferBytes, replayBufferBytes: config.streams.replayBufferBytes,
  });
  const comparisons = new ComparisonService({
    hub, catalogue, store, config: config.compare,
    onError: (err, comparisonId) => fastify.log.error({ err, comparisonId }, 'comparison failed'),
  });
  const realtime = createRealtime(config.realtime, hub);
  const jsonLimits = { maxDepth: config.input.maxJsonDepth, maxStringLength: config.input.maxStringLength, maxItems: config.input.maxItems };
  const ctx: AppContext = {
    config, hub, comparisons, catalogue, store, flags: new Flags(config.flags), startedAt: new Date(), realtime,
    stream: { hub, comparisons, sse: { retryMs: config.streams.sseRetryMs, heartbeatMs: config.streams.sseHeartbeatMs } },
    gateway: new ChatCompletions({ catalogue, tiers: config.compare.tiers }),
  };

  const notFoundFallback: { current?: NotFoundFallback } = {};
  installErrorHandling(fastify, notFoundFallback);
  installJsonBodyParser(fastify, jsonLimits);
  metaRoutes(fastify, ctx);
  comparisonRoutes(fastify, ctx);
  seedRoutes(fastify, ctx);
  openaiGatewayRoutes(fastify, ctx);
  clientConfigRoutes(fastify, ctx);
  realtimeRoutes(fastify, ctx);
  const websockets = realtimeWebSockets(realtime, ctx.flags, jsonLimits, config.streams.subscriberBufferBytes);
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
        await comparisons.close(config.server.shutdownGraceMs);
        realtime.publisher.close(); // what was accepted is in the log; clients get it, then 1012
        await websockets.close();
        await hub.close();
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
