import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';

/** Liveness, readiness and the model catalogue (seed shapes plus the OpenAI list shape). */
export function metaRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/health', async () => ({
    status: 'healthy',
    uptimeSeconds: Math.round((Date.now() - ctx.startedAt.getTime()) / 1000),
    streams: ctx.hub.stats(),
  }));

  app.get('/ready', async (_request, reply) => {
    try {
      await ctx.hub.backend.ping?.();
    } catch (err) {
      const retryAfter = ctx.config.durability.retryAfterSeconds;
      return reply.code(503).header('Retry-After', String(retryAfter)).send({
        code: 'dependency_unavailable', message: (err as Error).message, dependency: 'redis', retryAfterSeconds: retryAfter,
      });
    }
    try {
      await ctx.store.ping();
      return { status: 'ready', database: ctx.store.dialect, streams: ctx.config.redis.url ? 'redis' : 'memory' };
    } catch (err) {
      const retryAfter = ctx.config.durability.retryAfterSeconds;
      return reply.code(503).header('Retry-After', String(retryAfter)).send({
        code: 'unavailable', message: `Database unavailable: ${(err as Error).message}`,
        dependency: 'database', database: ctx.store.dialect, pendingWrites: ctx.store.pendingWrites(), retryAfterSeconds: retryAfter,
      });
    }
  });

  const catalogue = () => {
    const models = ctx.catalogue.list().map((m) => ({ ...m, context_length: m.contextLength }));
    const byProvider: Record<string, typeof models> = {};
    for (const m of models) (byProvider[m.provider] ??= []).push(m);
    return { models, models_by_provider: byProvider };
  };
  app.get('/models', async () => catalogue());
  app.get('/api/models', async () => catalogue());
  app.get('/v1/models', async () => {
    const { models, models_by_provider } = catalogue();
    return {
      object: 'list',
      data: models.map((m) => ({ ...m, object: 'model', created: 0, owned_by: m.provider })),
      models_by_provider,
    };
  });
}
