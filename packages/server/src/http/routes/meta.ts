import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { api } from '../openapi.js';

/** Liveness, readiness and the model catalogue (seed shapes plus the OpenAI list shape). */
export function metaRoutes(app: FastifyInstance, ctx: AppContext): void {
  // Probes ask thousands of times a second: a serializer compiled from the shape (Fastify's
  // fast-json-stringify) instead of JSON.stringify, and a synchronous handler (no promise to settle).
  const health = api({ summary: 'Liveness', tags: ['meta'] });
  const counters = Object.fromEntries(Object.keys(ctx.hub.stats()).map((key) => [key, { type: 'integer' }]));
  health.schema.response = {
    200: {
      type: 'object',
      properties: { status: { type: 'string' }, uptimeSeconds: { type: 'integer' }, streams: { type: 'object', properties: counters } },
    },
  };
  app.get('/health', health, () => ({
    status: 'healthy',
    uptimeSeconds: Math.round((Date.now() - ctx.startedAt.getTime()) / 1000),
    streams: ctx.hub.stats(),
  }));

  app.get('/ready', api({ summary: 'Readiness: the database (and Redis when configured) answer', tags: ['meta'] }), async (_request, reply) => {
    const retryAfter = ctx.config.durability.retryAfterSeconds;
    try {
      await ctx.store.ping();
    } catch (err) {
      return reply
        .code(503)
        .header('Retry-After', String(retryAfter))
        .send({
          code: 'unavailable',
          message: `Database unavailable: ${(err as Error).message}`,
          dependency: 'database',
          database: ctx.store.dialect,
          pendingWrites: ctx.store.pendingWrites(),
          retryAfterSeconds: retryAfter,
        });
    }
    if (ctx.redis) {
      try {
        // The stream log's connections and the shared-state one: either down means not ready.
        await Promise.all([ctx.redis.ping(), ctx.hub.backend.ping?.()]);
      } catch (err) {
        return reply
          .code(503)
          .header('Retry-After', String(retryAfter))
          .send({
            code: 'dependency_unavailable',
            message: `Redis unavailable: ${(err as Error).message}`,
            dependency: 'redis',
            database: ctx.store.dialect,
            retryAfterSeconds: retryAfter,
          });
      }
    }
    return { status: 'ready', database: ctx.store.dialect, ...(ctx.redis ? { redis: 'ok' } : {}) };
  });

  const catalogue = () => {
    const models = ctx.catalogue.list().map((m) => ({ ...m, context_length: m.contextLength }));
    const byProvider: Record<string, typeof models> = {};
    for (const m of models) (byProvider[m.provider] ??= []).push(m);
    return { models, models_by_provider: byProvider };
  };
  app.get('/models', api({ summary: 'The model catalogue (seed shape)', tags: ['seed', 'meta'] }), async () => catalogue());
  app.get('/api/models', api({ summary: 'The model catalogue (seed shape)', tags: ['seed', 'meta'] }), async () => catalogue());
  app.get('/v1/models', api({ summary: 'The model catalogue (OpenAI list shape)', tags: ['openai', 'meta'] }), async () => {
    const { models, models_by_provider } = catalogue();
    return {
      object: 'list',
      data: models.map((m) => ({ ...m, object: 'model', created: 0, owned_by: m.provider })),
      models_by_provider,
    };
  });
}
