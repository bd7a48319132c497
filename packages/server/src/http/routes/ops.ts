import type { FastifyInstance } from 'fastify';
import { TributaryError } from '../../errors.js';
import { requireAdmin, requireMonitoring } from '../admin.js';
import { OPS_TOPIC } from '../../ops/snapshot.js';
import { encodeOnce } from '../../streams/encode-once.js';
import { encodeSseFrame } from '../../transports/sse-frame.js';
import { SseResponse, SseSink } from '../../transports/sse-stream.js';
import type { AppContext } from '../context.js';
import { flagParams, flagUpdateBody } from '../ops-schemas.js';
import { parseInput } from '../validate.js';
import { ADMIN_ERRORS, api } from '../openapi.js';
import { flagIdentityOf } from '../flag-identity.js';
import { hijack } from '../hijack.js';

/** Prometheus `/metrics`, the caller's evaluated flags, and the admin API of flags. */
export function opsRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get(
    '/metrics',
    api({
      summary: 'Prometheus metrics (text exposition format; optional bearer token)',
      tags: ['ops'],
      produces: 'text/plain',
      errors: ['metrics_disabled', 'unauthorized'],
    }),
    async (request, reply) => {
      const { metrics } = ctx.ops;
      if (!metrics) throw new TributaryError('metrics_disabled');
      requireMonitoring(request, ctx.config);
      const { contentType, body } = await metrics.scrape();
      return reply.header('Content-Type', contentType).header('Cache-Control', 'no-store').send(body);
    },
  );

  app.get('/v1/alerts', api({ summary: 'Alerts, firing and resolved', tags: ['ops'], errors: ['unauthorized'] }), async (request) => {
    requireMonitoring(request, ctx.config);
    return { alerts: ctx.ops.alerts.list() };
  });

  app.get('/v1/flags', api({ summary: "The caller's evaluated feature flags", tags: ['ops'] }), async (request, reply) => {
    reply.header('Cache-Control', 'no-store');
    return { flags: ctx.flags.evaluateAll(await flagIdentityOf(request, ctx)) };
  });

  app.get('/v1/admin/flags', api({ summary: 'Flags with their rollout and lists', tags: ['ops'], errors: ADMIN_ERRORS }), async (request) => {
    await requireAdmin(request, ctx);
    return { flags: ctx.flags.list() };
  });

  app.put(
    '/v1/admin/flags/:name',
    api({
      summary: 'Change a flag at runtime (persisted, audited, propagated)',
      tags: ['ops'],
      params: flagParams,
      body: flagUpdateBody,
      errors: [...ADMIN_ERRORS, 'flag_not_found'],
    }),
    async (request) => {
      const { actor } = await requireAdmin(request, ctx);
      const { name } = parseInput(flagParams, request.params, 'path');
      const body = parseInput(flagUpdateBody, request.body);
      return { name, ...(await ctx.ops.flagService.update(name, body, actor)) };
    },
  );

  // The dashboard's feed: the ops:metrics topic of the hub, recent snapshots first (history), then live.
  app.get(
    '/v1/admin/ops/stream',
    api({ summary: "The dashboard's live feed (SSE)", tags: ['ops'], produces: 'text/event-stream', errors: ADMIN_ERRORS }),
    async (request, reply) => {
      await requireAdmin(request, ctx);
      hijack(reply);
      const sse = new SseResponse(reply.raw, ctx.stream.sse);
      const sink = new SseSink(sse, opsFrame);
      const subscription = await ctx.hub.subscribe(OPS_TOPIC, { from: 'start' }, sink);
      reply.raw.on('close', () => subscription.close());
      if (reply.raw.destroyed) subscription.close();
    },
  );
}

const opsFrame = encodeOnce((e) => encodeSseFrame({ id: String(e.seq), event: e.type, data: JSON.stringify(e.data) }));
