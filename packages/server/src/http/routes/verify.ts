import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { CHECKS, verify } from '@tributary/client/verify';
import { TributaryError } from '../../errors.js';
import { requireAdmin } from '../admin.js';
import type { AppContext } from '../context.js';
import { ADMIN_ERRORS, api } from '../openapi.js';
import { verifyBody } from '../ops-schemas.js';
import { parseInput } from '../validate.js';

/**
 * `POST /v1/admin/verify`: the ops dashboard runs `tributary verify --profile smoke` against this
 * server, from outside (its own HTTP address, public routes only), one run at a time (`checks`
 * in the body narrows it to some checks). The checks
 * run as the caller (their bearer or session cookie), so they count against the caller's limits.
 */
export function verifyRoutes(app: FastifyInstance, ctx: AppContext): void {
  let running = false;
  app.post(
    '/v1/admin/verify',
    api({
      summary: 'Run the smoke verify profile against this server (admin; one run at a time)',
      tags: ['ops'],
      body: verifyBody,
      errors: [...ADMIN_ERRORS, 'invalid_field', 'verify_running'],
    }),
    async (request) => {
      await requireAdmin(request, ctx);
      const { checks } = parseInput(verifyBody, request.body);
      const unknown = checks?.filter((id) => !CHECKS.some((c) => c.id === id));
      if (unknown?.length) throw new TributaryError('invalid_field', `Unknown check: ${unknown.join(', ')}.`, { field: 'checks' });
      if (running) throw new TributaryError('verify_running');
      running = true;
      try {
        const auth = request.headers.authorization;
        const bearer = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
        // The admin token is not a model-route credential: such runs are anonymous.
        const token = bearer && bearer !== ctx.config.ops.adminToken ? bearer : undefined;
        const cookie = request.headers.cookie;
        return await verify({
          baseUrl: ownUrl(app),
          profile: 'smoke',
          token,
          ...(checks ? { only: checks } : {}),
          ...(cookie ? { headers: { Cookie: cookie } } : {}),
          publishKey: ctx.config.realtime.publishKey ?? undefined,
          metricsToken: ctx.config.ops.metricsToken ?? undefined,
        });
      } finally {
        running = false;
      }
    },
  );
}

/** This server's own address, as a client reaches it (a wildcard listen is reached on loopback). */
function ownUrl(app: FastifyInstance): string {
  const { address, family, port } = app.server.address() as AddressInfo;
  const host = address === '0.0.0.0' || address === '::' ? '127.0.0.1' : family === 'IPv6' ? `[${address}]` : address;
  return `http://${host}:${port}`;
}
