import fastifyCookie from '@fastify/cookie';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { ComparisonService } from './compare/comparison-service.js';
import type { Config } from './config/schema.js';
import type { AppContext } from './http/context.js';
import { installCors } from './http/cors.js';
import { installSecurityHeaders } from './http/security-headers.js';
import { trustedProxyFn, upgradeFlagIdentity } from './http/flag-identity.js';
import { installErrorHandling, type NotFoundFallback } from './http/error-handler.js';
import { installJsonBodyParser } from './http/json-body.js';
import { clientConfigRoutes } from './http/routes/client-config.js';
import { serveWebApp } from './http/web-app.js';
import { comparisonRoutes } from './http/routes/comparisons.js';
import { metaRoutes } from './http/routes/meta.js';
import { realtimeRoutes } from './http/routes/realtime.js';
import { accountRoutes } from './http/routes/account.js';
import { adminRoutes } from './http/routes/admin.js';
import { authRoutes } from './http/routes/auth.js';
import { createIdentity } from './identity/identity.js';
import { openaiGatewayRoutes } from './http/routes/openai-gateway.js';
import { ChatCompletions } from './gateway/chat-completions.js';
import { Responses } from './gateway/responses.js';
import { seedRoutes } from './http/routes/seed.js';
import { ModelCatalogue } from './llm/catalogue.js';
import { bareIdProviders, buildProviders } from './llm/build-providers.js';
import type { Provider } from './llm/provider.js';
import { observeRequests } from './http/observe-requests.js';
import { lazyRequestLogger } from './http/request-logger.js';
import { installOpenApi } from './http/openapi.js';
import type { FlagChangeBus } from './ops/flags.js';
import { observeStreams, startOps, type Ops } from './ops/ops.js';
import { opsRoutes } from './http/routes/ops.js';
import { verifyRoutes } from './http/routes/verify.js';
import { createRealtime } from './realtime/realtime.js';
import { openStore } from './store/open-store.js';
import type { RedisConnection } from './store/redis.js';
import { StreamHub } from './streams/hub.js';
import { openStreamBackend } from './streams/open-backend.js';
import { openCoordination } from './compare/open-coordination.js';
import { realtimeWebSockets } from './transports/ws-server.js';
import { createJobs } from './jobs/create-jobs.js';
import { jobRoutes } from './http/routes/jobs.js';

export interface AppOptions {
  /** Replaces the providers built from config (tests wrap the demo provider to observe it). */
  providers?: Provider[];
  /** How flag changes reach the other nodes (default: this process only; tests share one between apps). */
  flagBus?: FlagChangeBus;
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
  const { durability } = config;
  const store = await openStore({
    dataDir: config.dataDir,
    databaseUrl: config.database.url,
    schema: config.database.schema,
    flushIntervalMs: config.usage.flushIntervalMs,
    batchSize: config.usage.batchSize,
    commitDelayMs: durability.commitDelayMs,
    maxPendingBytes: durability.maxPendingBytes,
    minRetryMs: durability.retryMinMs,
    maxRetryMs: durability.retryMaxMs,
    sqliteSynchronous: durability.sqliteSynchronous,
    closeTimeoutMs: durability.closeTimeoutMs,
    startupTimeoutMs: durability.startupRetryMs,
    // Said once (stdout, before any logger exists); a final failure is the CLI's one stderr line.
    onStartupRetry: (err, attempt) => {
      if (attempt === 1)
        console.log(`Waiting for the database (${(err as { code?: string }).code ?? (err as Error).message}) for up to ${durability.startupRetryMs} ms`);
    },
  });
  // A cluster's shared state: limit counters, flag changes, idempotency keys.
  let redis: RedisConnection | undefined;
  let flagBus = opts.flagBus;
  try {
    // Redis modules load only when configured: ioredis is a large part of a single node's start-up time.
    redis = config.redis.url
      ? await (await import('./store/redis.js')).connectRedis(config.redis.url, config.redis.keyPrefix, durability.startupRetryMs)
      : undefined;
    if (redis && !flagBus) {
      const { RedisFlagBus } = await import('./ops/flag-bus-redis.js');
      const bus = new RedisFlagBus(redis.client, redis.connect(), `${redis.prefix}flags`);
      await bus.start();
      flagBus = bus;
    }
  } catch (err) {
    await redis?.close();
    await store.close();
    throw err;
  }
  const trustProxy = trustedProxyFn(config.identity.trustedProxies);
  const fastify = Fastify({
    // `silent` logs nothing: then no logger at all, so no request pays for one (its child, Fastify's response listeners).
    ...(config.log.level === 'silent'
      ? { logger: false }
      : { logger: { level: config.log.level, ...(opts.logStream ? { stream: opts.logStream } : {}) }, childLoggerFactory: lazyRequestLogger }),
    bodyLimit: config.server.bodyLimitBytes,
    // Slow headers / slow bodies (Slowloris): only the request is timed, never a streamed response.
    requestTimeout: config.server.requestTimeoutMs,
    http: { headersTimeout: config.server.headersTimeoutMs, connectionsCheckingInterval: Math.min(1_000, config.server.headersTimeoutMs) },
    // Per-request lines only when debugging: a streaming server's requests are long and many.
    logController: new LogController({ disableRequestLogging: config.log.level !== 'debug' && config.log.level !== 'trace' }),
    // X-Forwarded-For counts only from these peers (request.ip is the client's, for limits).
    trustProxy,
  });
  const warn = (message: string) => fastify.log.warn(message);
  let catalogue: ModelCatalogue | undefined;
  const observation = observeStreams(config, (id) => catalogue?.resolve(id)?.info);
  const { metrics } = observation;
  const built = opts.providers ?? (await buildProviders(config, warn));
  const providers = metrics ? built.map((p) => metrics.instrument(p)) : built;
  catalogue = new ModelCatalogue(providers, warn, { aliases: config.models.aliases, bareIdProviders: bareIdProviders(config) });
  await catalogue.refresh();
  let ops: Ops | undefined; // assembled after the hub; identity reports refusals to it
  const identity = await createIdentity(config, store, {
    pricingOf: (model) => catalogue.resolve(model)?.info.pricing,
    onError: (err) => fastify.log.error({ err }, 'identity maintenance failed'),
    onLimitExceeded: (callerClass) => ops?.rateLimited(callerClass),
    redis,
  });
  catalogue.refreshEvery(config.catalogue.refreshSeconds * 1000);
  const backend = await openStreamBackend(config, (err) => fastify.log.warn({ err: { message: err.message } }, 'redis connection trouble'));
  const hub = new StreamHub(
    backend,
    {
      maxReplay: config.streams.maxReplay,
      subscriberBufferBytes: config.streams.subscriberBufferBytes,
      replayBufferBytes: config.streams.replayBufferBytes,
    },
    metrics?.hubObserver,
  );
  const comparisons = new ComparisonService({
    hub,
    catalogue,
    store,
    config: config.compare,
    durability,
    onError: (err, comparisonId) => fastify.log.error({ err, comparisonId }, 'comparison failed'),
    costOf: identity.costOf,
    coordination: await openCoordination(config, (err) => fastify.log.warn({ err: { message: err.message } }, 'redis connection trouble')),
    timeTokens: metrics?.timeTokens,
  });
  await comparisons.open(); // marks comparisons a crash left running (those no live node holds) interrupted
  const jobs = await createJobs({
    db: store.db,
    dialect: store.dialect,
    sqlite: store.sqlite,
    hub,
    catalogue,
    config,
    onError: (err) => fastify.log.error({ err }, 'job runner failed'),
    redis: redis && { client: redis.client, connection: redis.options, prefix: redis.prefix },
  });
  const realtime = createRealtime(
    config.realtime,
    hub,
    {
      resolveCredential: identity.connectionSubject,
      // The same owner check as /v1/jobs/{id}/stream: a user's job is its owner's alone, an anonymous one its id's holder's.
      mayReadJob: (sub, jobId) => jobs.service.mayRead(jobId, sub ?? undefined),
    },
    redis,
  );
  ops = await startOps(config, observation, {
    hub,
    realtime: realtime.metrics,
    store: store.opsData,
    log: fastify.log,
    flagBus,
    audit: (row) => identity.audit.record(row),
    jobs: () => jobs.store.queueStats(),
  });
  identity.privacy.register({ name: 'jobs', export: (userId) => jobs.service.exportOwned(userId), erase: (userId) => jobs.service.eraseOwned(userId) });
  const jsonLimits = { maxDepth: config.input.maxJsonDepth, maxStringLength: config.input.maxStringLength, maxItems: config.input.maxItems };
  const ctx: AppContext = {
    config,
    hub,
    comparisons,
    catalogue,
    store,
    redis,
    flags: ops.flags,
    startedAt: new Date(),
    realtime,
    ops,
    stream: { hub, comparisons, sse: { retryMs: config.streams.sseRetryMs, heartbeatMs: config.streams.sseHeartbeatMs } },
    gateway: new ChatCompletions({ catalogue, tiers: config.compare.tiers }),
    identity,
    jobs: jobs.service,
    jobStream: { hub, jobs: jobs.service, sse: { retryMs: config.streams.sseRetryMs, heartbeatMs: config.streams.sseHeartbeatMs } },
    responses: new Responses({ catalogue, tiers: config.compare.tiers }),
  };

  const notFoundFallback: { current?: NotFoundFallback } = {};
  installErrorHandling(fastify, notFoundFallback, { retryAfterSeconds: durability.retryAfterSeconds });
  installJsonBodyParser(fastify, jsonLimits);
  // Per-route hooks: before anything adds a route (CORS adds its preflight).
  installSecurityHeaders(fastify);
  observeRequests(fastify, config, metrics);
  await installCors(fastify, config.server.cors);
  await installOpenApi(fastify); // before the routes: it collects them as they are added
  opsRoutes(fastify, ctx);
  verifyRoutes(fastify, ctx);
  metaRoutes(fastify, ctx);
  comparisonRoutes(fastify, ctx);
  seedRoutes(fastify, ctx);
  openaiGatewayRoutes(fastify, ctx);
  clientConfigRoutes(fastify, ctx);
  realtimeRoutes(fastify, ctx);
  // Only the routes that set cookies get the cookie plugin: its onSend hook (writing the cookies a
  // reply set) would otherwise run on every response, /health's included. Cookies are parsed by
  // their first reader (http/identity.ts cookieOf), not on every request.
  await fastify.register(async (scope) => {
    await scope.register(fastifyCookie, { hook: false });
    authRoutes(scope, ctx);
    accountRoutes(scope, ctx);
  });
  adminRoutes(fastify, ctx);
  await fastify.register((scope) => jobRoutes(scope, ctx)); // its own scope: the multipart parser stays there
  const websockets = realtimeWebSockets(realtime, ops.flags, upgradeFlagIdentity(ctx, trustProxy), jsonLimits, config.streams.subscriberBufferBytes);
  websockets.attach(fastify.server);
  if (config.web.enabled) notFoundFallback.current = await serveWebApp(fastify, config.web.dir);

  let closing: Promise<void> | undefined;
  return {
    fastify,
    ctx,
    async listen() {
      await fastify.listen({ host: config.server.host, port: config.server.port });
      await jobs.runner.start();
      const address = fastify.server.address();
      const port = typeof address === 'object' && address ? address.port : config.server.port;
      const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? 'localhost' : config.server.host;
      return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    },
    close() {
      closing ??= (async () => {
        const stopped = fastify.close(); // refuse new requests at once; streams drain below
        await ops.close();
        await Promise.all([comparisons.close(config.server.shutdownGraceMs), jobs.runner.close(config.server.shutdownGraceMs)]);
        await jobs.queue.close?.();
        realtime.publisher.close(); // what was accepted is in the log; clients get it, then 1012
        await websockets.close();
        await hub.close();
        // Streams have ended; a socket that never sent a request would hold close() until its headers timeout.
        await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
        fastify.server.closeAllConnections();
        await stopped;
        await catalogue.close();
        await backend.close();
        identity.close();
        // Ours only: a bus handed in by the caller is the caller's to close.
        if (flagBus !== opts.flagBus) await flagBus?.close?.();
        await redis?.close();
        await store.close();
      })();
      return closing;
    },
  };
}
