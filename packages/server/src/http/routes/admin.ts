import type { FastifyInstance } from 'fastify';
import { TributaryError } from '../../errors.js';
import type { AppContext } from '../context.js';
import { requireAdmin } from '../admin.js';
import { auditQuery, updateUserBody, usageQuery, userParams } from '../identity-schemas.js';
import { parseInput } from '../validate.js';
import { usageTotals } from './account.js';
import { ADMIN_ERRORS, api } from '../openapi.js';

/** Admin: usage by user/model/day, the audit trail, users' role and tier. */
export function adminRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { identity } = ctx;

  app.get('/v1/admin/usage', api({ summary: 'Usage by user, model and day', tags: ['identity'], query: usageQuery, errors: ADMIN_ERRORS }), async (request) => {
    const { actor } = await requireAdmin(request, ctx);
    const { days } = parseInput(usageQuery, request.query, 'query');
    const lines = await identity.usage.lines({ days });
    identity.audit.record({ actor, action: 'admin.usage_read', outcome: 'ok', requestId: request.id, details: { days } });
    return { days, lines, totals: usageTotals(lines) };
  });

  app.get(
    '/v1/admin/audit',
    api({ summary: 'The audit trail', tags: ['identity'], query: auditQuery, errors: [...ADMIN_ERRORS, 'invalid_cursor'] }),
    async (request) => {
      const { actor } = await requireAdmin(request, ctx);
      const query = parseInput(auditQuery, request.query, 'query');
      const page = await identity.audit.list(query);
      // Recorded after the read, so a page never shows its own row.
      identity.audit.record({ actor, action: 'admin.audit_read', outcome: 'ok', requestId: request.id });
      return page;
    },
  );

  app.get('/v1/admin/users', api({ summary: 'List users', tags: ['identity'], errors: ADMIN_ERRORS }), async (request) => {
    const { actor } = await requireAdmin(request, ctx);
    identity.audit.record({ actor, action: 'admin.users_read', outcome: 'ok', requestId: request.id });
    return { users: await identity.accounts.listUsers(1_000) };
  });

  app.patch(
    '/v1/admin/users/:id',
    api({ summary: "Change a user's role or tier", tags: ['identity'], params: userParams, body: updateUserBody, errors: [...ADMIN_ERRORS, 'user_not_found'] }),
    async (request) => {
      const { actor } = await requireAdmin(request, ctx);
      const { id } = parseInput(userParams, request.params, 'path');
      const change = parseInput(updateUserBody, request.body);
      if (change.tier && !identity.config.limits.tiers[change.tier]) {
        throw new TributaryError('invalid_field', `tier: no tier ${change.tier} in identity.limits.tiers.`, { field: 'tier' });
      }
      const before = await identity.accounts.getUser(id);
      const user = await identity.accounts.update(id, change);
      identity.audit.record({
        actor,
        action: 'admin.user_update',
        target: id,
        outcome: 'ok',
        requestId: request.id,
        details: { role: [before?.role, user.role], tier: [before?.tier ?? null, user.tier] },
      });
      return user;
    },
  );
}
