import type { FastifyInstance } from 'fastify';
import { TributaryError } from '../../errors.js';
import { fingerprintHash } from '../../identity/quotas.js';
import { actorOf } from '../../identity/types.js';
import type { AppContext } from '../context.js';
import { callerOf, clearSessionCookies, requireAccount, requireUser } from '../identity.js';
import { connectionTokenBody, createKeyBody, keyParams, limitsStatusQuery, usageQuery } from '../identity-schemas.js';
import { parseInput } from '../validate.js';
import { api, AUTH_ERRORS } from '../openapi.js';

/** The caller's own account: limits, usage, API keys, connection tokens, export and erasure. */
export function accountRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { identity } = ctx;

  app.get('/v1/me/limits', api({ summary: "The caller's limits and what is left of them", tags: ['identity'], errors: AUTH_ERRORS }), async (request) => {
    const caller = await callerOf(request, ctx);
    return { kind: caller.kind, ...(await identity.quotas.state(caller)) };
  });

  // CompareAI's status route, its fields first, then ours.
  for (const path of ['/rate-limit-status', '/api/rate-limit-status']) {
    app.get(
      path,
      api({ summary: "CompareAI's rate-limit status (seed shape, then ours)", tags: ['seed', 'identity'], query: limitsStatusQuery, errors: AUTH_ERRORS }),
      async (request) => {
        const { fingerprint } = parseInput(limitsStatusQuery, request.query, 'query');
        const caller = await callerOf(request, ctx);
        const state = await identity.quotas.state(caller, fingerprint);
        const daily = state.limits.responses_per_day;
        const ipCount = await identity.quotas.responsesToday(`ip:${caller.ip}`);
        const max = daily?.limit ?? null;
        return {
          ip_address: caller.ip,
          ip_usage_count: ipCount,
          max_daily_limit: max,
          remaining: daily?.remaining ?? null,
          is_limited: daily ? daily.remaining === 0 : false,
          ...(fingerprint ? fingerprintFields(await identity.quotas.responsesToday(`fp:${fingerprintHash(fingerprint)}`), max) : {}),
          kind: caller.kind,
          ...state,
        };
      },
    );
  }

  app.get(
    '/v1/me/usage',
    api({ summary: "The caller's usage by model and day", tags: ['identity'], query: usageQuery, errors: AUTH_ERRORS }),
    async (request) => {
      const caller = await requireAccount(request, ctx);
      const { days } = parseInput(usageQuery, request.query, 'query');
      const lines = await identity.usage.lines({ owner: caller.userId, days });
      return { days, lines, totals: totals(lines) };
    },
  );

  app.get(
    '/v1/me/export',
    api({ summary: 'Export everything stored about the signed-in user', tags: ['identity'], errors: AUTH_ERRORS }),
    async (request, reply) => {
      const caller = await requireUser(request, ctx);
      const data = await identity.privacy.export(caller.userId);
      identity.audit.record({ actor: actorOf(caller), action: 'privacy.export', target: caller.userId, outcome: 'ok', requestId: request.id });
      reply.header('content-disposition', 'attachment; filename="tributary-export.json"');
      return data;
    },
  );

  app.delete('/v1/me', api({ summary: 'Erase the signed-in user and their data', tags: ['identity'], errors: AUTH_ERRORS }), async (request, reply) => {
    const caller = await requireUser(request, ctx);
    await ctx.comparisons.cancelOwned(caller.userId);
    await identity.privacy.erase(caller.userId);
    // Recorded after the erasure, so the row does not name who was erased.
    identity.audit.record({ actor: 'erased', action: 'privacy.erase', outcome: 'ok', requestId: request.id });
    clearSessionCookies(reply);
    return { status: 'erased' };
  });

  app.post(
    '/v1/keys',
    api({ summary: 'Create an API key', tags: ['identity'], body: createKeyBody, status: 201, errors: [...AUTH_ERRORS, 'forbidden'] }),
    async (request, reply) => {
      const caller = await requireUser(request, ctx);
      const body = parseInput(createKeyBody, request.body);
      const { scopes } = body;
      if (scopes.includes('admin') && caller.role !== 'admin') throw new TributaryError('forbidden', 'Only an admin may create a key with the admin scope.');
      const key = await identity.keys.create(caller.userId, body.name, scopes, body.limits ?? null);
      identity.audit.record({ actor: actorOf(caller), action: 'key.create', target: key.id, outcome: 'ok', requestId: request.id, details: { scopes } });
      return reply.code(201).send(key);
    },
  );

  app.get('/v1/keys', api({ summary: "List the user's API keys", tags: ['identity'], errors: AUTH_ERRORS }), async (request) => {
    const caller = await requireUser(request, ctx);
    return { keys: await identity.keys.list(caller.userId) };
  });

  app.delete(
    '/v1/keys/:id',
    api({ summary: 'Revoke an API key', tags: ['identity'], params: keyParams, errors: [...AUTH_ERRORS, 'key_not_found'] }),
    async (request) => {
      const caller = await requireUser(request, ctx);
      const { id } = parseInput(keyParams, request.params, 'path');
      const key = await identity.keys.revoke(caller.userId, id);
      identity.audit.record({ actor: actorOf(caller), action: 'key.revoke', target: id, outcome: 'ok', requestId: request.id });
      return key;
    },
  );

  app.post(
    '/v1/tokens/connection',
    api({ summary: 'Mint a realtime connection token', tags: ['identity', 'realtime'], body: connectionTokenBody, errors: AUTH_ERRORS }),
    async (request) => {
      const caller = await requireAccount(request, ctx);
      const body = parseInput(connectionTokenBody, request.body);
      const token = await ctx.realtime.auth.mint({ sub: caller.userId, ...(body.channels ? { channels: body.channels } : {}) }, body.ttlSeconds);
      return { token, expiresIn: body.ttlSeconds, sub: caller.userId };
    },
  );
}

function fingerprintFields(count: number, max: number | null) {
  return {
    fingerprint_usage_count: count,
    fingerprint_remaining: max === null ? null : Math.max(0, max - count),
    fingerprint_limited: max !== null && count >= max,
  };
}

function totals(lines: { responses: number; inputTokens: number; outputTokens: number; costUsd: number }[]) {
  return lines.reduce(
    (t, l) => ({
      responses: t.responses + l.responses,
      inputTokens: t.inputTokens + l.inputTokens,
      outputTokens: t.outputTokens + l.outputTokens,
      costUsd: t.costUsd + l.costUsd,
    }),
    { responses: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 },
  );
}

export { totals as usageTotals };
