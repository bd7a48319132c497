import type { FastifyInstance } from 'fastify';
import { TributaryError } from '../../errors.js';
import { bearerMatches } from '../admin.js';
import type { AppContext } from '../context.js';

/** Prometheus exposition at `/metrics`, behind an optional bearer token. */
export function opsRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/metrics', async (request, reply) => {
    const { metrics } = ctx.ops;
    if (!metrics) throw new TributaryError('metrics_disabled');
    const token = ctx.config.ops.metricsToken;
    if (token && !bearerMatches(request.headers.authorization, token)) {
      throw new TributaryError('unauthorized', '/metrics needs Authorization: Bearer <metrics token>.');
    }
    const { contentType, body } = await metrics.scrape();
    return reply.header('Content-Type', contentType).header('Cache-Control', 'no-store').send(body);
  });
}
