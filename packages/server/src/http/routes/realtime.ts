import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { checkChannels } from '../../realtime/access.js';
import { parseCursor, type Cursor } from '../../realtime/positions.js';
import { pollChannels } from '../../transports/long-poll.js';
import { streamChannels } from '../../transports/sse-subscribe.js';
import { SseResponse } from '../../transports/sse-stream.js';
import { TributaryError } from '../../errors.js';
import { hasScope } from '../../identity/types.js';
import type { AppContext } from '../context.js';
import { ACCESS_COOKIE, callerOf, cookieOf } from '../identity.js';
import { pollQuery, publishBatchBody, publishBody, subscribeQuery } from '../schemas.js';
import { parseInput } from '../validate.js';
import { api } from '../openapi.js';
import { hijack } from '../hijack.js';

/** What `/v1/publish` takes: a batch when it has `events`, else one event (the handler picks which). */
const publishAnyBody = z.union([publishBatchBody, publishBody]);

/** Publish API, multi-channel SSE, long-poll and the seed's metrics. The WebSockets live in transports/ws-server.ts. */
export function realtimeRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { realtime } = ctx;

  app.post(
    '/v1/publish',
    api({
      summary: 'Publish one event, or a batch as {events:[…]}',
      tags: ['realtime'],
      body: publishAnyBody,
      errors: ['unauthorized', 'publish_disabled', 'insufficient_scope', 'rate_limited', 'invalid_channel', 'event_too_large', 'idempotency_conflict'],
    }),
    async (request) => {
      await authorizePublish(request, ctx);
      const body = request.body as Record<string, unknown> | undefined;
      if (body && typeof body === 'object' && 'events' in body) {
        return { results: await realtime.publisher.publishBatch(parseInput(publishBatchBody, body).events) };
      }
      const item = parseInput(publishBody, body);
      const header = request.headers['idempotency-key'];
      return realtime.publisher.publish({ ...item, idempotencyKey: (Array.isArray(header) ? header[0] : header) ?? item.idempotencyKey });
    },
  );

  app.get(
    '/v1/subscribe',
    api({
      summary: 'Subscribe to channels over SSE (resumable)',
      tags: ['realtime'],
      query: subscribeQuery,
      produces: 'text/event-stream',
      errors: ['invalid_token', 'invalid_channel', 'channel_forbidden', 'too_many_channels', 'invalid_position'],
    }),
    async (request, reply) => {
      realtime.metrics.attempt('sse');
      const query = parseInput(subscribeQuery, request.query, 'query');
      const identity = await realtime.auth.identify(tokenOf(request, query.token ?? query.access_token));
      const channels = await checkChannels(realtime.access, identity, splitChannels(query.channels));
      const header = request.headers['last-event-id'];
      const last = (Array.isArray(header) ? header[0] : header) || query.lastEventId;
      const cursor = last ? parseCursor(last, channels.length) : emptyCursor(channels);
      await ctx.hub.ready(); // a dependency away answers 503 here, before the stream's 200
      hijack(reply);
      const sse = new SseResponse(reply.raw, { retryMs: ctx.config.streams.sseRetryMs, heartbeatMs: ctx.config.streams.sseHeartbeatMs });
      await streamChannels(realtime.access, sse, { identity, channels, cursor });
    },
  );

  app.get(
    '/v1/poll',
    api({
      summary: 'Long-poll channels from a cursor',
      tags: ['realtime'],
      query: pollQuery,
      errors: ['invalid_token', 'invalid_channel', 'channel_forbidden', 'too_many_channels', 'invalid_position'],
    }),
    async (request, reply) => {
      realtime.metrics.attempt('poll');
      const query = parseInput(pollQuery, request.query, 'query');
      const identity = await realtime.auth.identify(tokenOf(request, query.token ?? query.access_token));
      const channels = await checkChannels(realtime.access, identity, splitChannels(query.channels));
      const cursor = query.cursor ? parseCursor(query.cursor, channels.length) : emptyCursor(channels);
      const release = realtime.metrics.connected('poll', identity);
      const abort = new AbortController();
      reply.raw.on('close', () => abort.abort());
      if (request.raw.socket.destroyed) abort.abort(); // the client left before we listened
      try {
        const timeoutMs = Math.min(query.timeoutMs ?? realtime.config.pollTimeoutMs, realtime.config.pollTimeoutMs);
        const answer = await pollChannels(realtime.access, { channels, cursor, timeoutMs, lingerMs: realtime.config.pollLingerMs, signal: abort.signal });
        reply.header('Cache-Control', 'no-store');
        return answer;
      } finally {
        release();
      }
    },
  );

  app.get('/v2/realtime/metrics', api({ summary: 'Seed realtime counters (JSON)', tags: ['seed', 'realtime'] }), async () => realtime.metrics.snapshot());
}

const splitChannels = (raw: string) =>
  raw
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
const emptyCursor = (channels: string[]): Cursor => channels.map(() => null);

function tokenOf(request: FastifyRequest, query: string | undefined): string | undefined {
  const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
  return query ?? bearer ?? (cookieOf(request, ACCESS_COOKIE) || undefined);
}

/**
 * The configured publish key (exempt from limits: it is the operator's own backend), or a
 * user's key or session with the `publish` scope, charged per request like any other.
 */
async function authorizePublish(request: FastifyRequest, ctx: AppContext): Promise<void> {
  const caller = await callerOf(request, ctx).catch((err: unknown) => {
    // A bearer of no known kind, on a server without a publish key: publishing is what is missing.
    if (!ctx.config.realtime.publishKey && err instanceof TributaryError && err.code === 'unauthorized') throw new TributaryError('publish_disabled');
    throw err;
  });
  if (caller.kind === 'anonymous') {
    if (!ctx.config.realtime.publishKey) throw new TributaryError('publish_disabled');
    throw new TributaryError('unauthorized', 'Publishing needs Authorization: Bearer <publish key or API key with the publish scope>.');
  }
  if (!hasScope(caller, 'publish')) throw new TributaryError('insufficient_scope', undefined, { scope: 'publish' });
  if (caller.kind === 'key' && caller.userId === null) return;
  await ctx.identity.quotas.admitRequest(caller);
}
