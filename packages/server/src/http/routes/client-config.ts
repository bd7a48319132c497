import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { api } from '../openapi.js';
import { flagIdentityOf } from '../flag-identity.js';

/** What a client needs to shape its requests: limits, tiers and the flags it honours. */
export function clientConfigRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/v1/client-config', api({ summary: 'Limits, tiers and evaluated flags a client shapes its requests by', tags: ['native'] }), async (request) => ({
    maxModels: ctx.config.compare.maxModels,
    tiers: ctx.config.compare.tiers,
    flags: { sse_streaming: ctx.flags.evaluate('sse_streaming', await flagIdentityOf(request, ctx)) },
  }));
}
