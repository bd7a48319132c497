import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/schema.js';
import type { OpsMetrics } from '../ops/metrics.js';
import { identityClassOf } from './admin.js';

/**
 * One observation per request when its response ends (streams included, hijacked or not): the
 * duration histogram under the route pattern, and one `info` log line. Never a body, never a URL
 * beyond its pattern: prompts and completions stay out of logs and labels.
 */
/**
 * Liveness and readiness probes, asked every few seconds by orchestrators and load balancers:
 * neither a log line nor a duration sample (they would drown the real traffic, and cost /health its speed).
 */
const PROBES = new Set(['/health', '/ready']);

export function observeRequests(app: FastifyInstance, config: Config, metrics: OpsMetrics | undefined): void {
  // The level is fixed at start: above info the line's fields are never even assembled.
  const logLines = ['trace', 'debug', 'info'].includes(config.log.level);
  if (!metrics && !logLines) return;
  app.addHook('onRequest', (request, reply, done) => {
    if (PROBES.has(request.routeOptions.url ?? '')) return done();
    const started = performance.now();
    reply.raw.once('close', () => {
      const seconds = (performance.now() - started) / 1000;
      const route = request.routeOptions.url ?? 'unmatched';
      const status = reply.raw.headersSent ? reply.raw.statusCode : 499; // 499: the client left before an answer
      metrics?.httpRequest(request.method, route, status, seconds);
      if (logLines) {
        request.log.info(
          {
            reqId: request.id,
            method: request.method,
            route,
            status,
            durationMs: Math.round(seconds * 10_000) / 10,
            identity: identityClassOf(request, config),
          },
          'request',
        );
      }
    });
    done();
  });
}
