import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';
import type { OpsMetrics } from '../ops/metrics.js';
import { identityClassOf } from './admin.js';
import { addRouteHooks, type RouteHook } from './route-hooks.js';

/**
 * Liveness and readiness probes, asked every few seconds by orchestrators and load balancers:
 * neither a log line nor a duration sample (they would drown the real traffic, and cost /health its speed).
 */
const PROBES = new Set(['/health', '/ready']);

/**
 * One observation per request when its response ends (streams included, hijacked or not): the
 * duration histogram under the route pattern, and one `info` log line. Never a body, never a URL
 * beyond its pattern: prompts and completions stay out of logs and labels.
 *
 * Each route gets its hook when it is added, with its pattern as the label (no per-request
 * lookup); probes get none. Install before any route.
 */
export function observeRequests(app: FastifyInstance, config: Config, metrics: OpsMetrics | undefined): void {
  // The level is fixed at start: above info the line's fields are never even assembled.
  const logLines = ['trace', 'debug', 'info'].includes(config.log.level);
  if (!metrics && !logLines) return;
  const observe = (request: FastifyRequest, reply: FastifyReply, route: string) => {
    const started = performance.now();
    reply.raw.on('close', () => {
      const seconds = (performance.now() - started) / 1000;
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
  };
  const hookFor =
    (label: string): RouteHook =>
    (request, reply) =>
      observe(request, reply, label);
  addRouteHooks(app, (route) => (PROBES.has(route.url ?? '') ? undefined : hookFor(route.url ?? 'unmatched')), hookFor('unmatched'));
}
