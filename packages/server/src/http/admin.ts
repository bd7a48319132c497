import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';
import { TributaryError } from '../errors.js';
import { actorOf } from '../identity/types.js';
import type { AppContext } from './context.js';
import { authorize } from './identity.js';

/**
 * The one admin guard of the ops API and dashboard: an admin user or an `admin`-scoped key, or
 * the configured `ops.adminToken` as a bearer token (for automation without an account).
 */
export async function requireAdmin(request: FastifyRequest, ctx: AppContext): Promise<{ actor: string }> {
  const token = ctx.config.ops.adminToken;
  if (token && bearerMatches(request.headers.authorization, token)) return { actor: 'admin-token' };
  return { actor: actorOf(await authorize(request, ctx, 'admin')) };
}

/** Monitoring reads (`/metrics`, alerts): open unless `ops.metricsToken` is set; then it, or the admin token. */
export function requireMonitoring(request: FastifyRequest, config: Config): void {
  const token = config.ops.metricsToken;
  if (!token) return;
  const auth = request.headers.authorization;
  if (bearerMatches(auth, token) || (config.ops.adminToken && bearerMatches(auth, config.ops.adminToken))) return;
  throw new TributaryError('unauthorized', 'Monitoring needs Authorization: Bearer <metrics token>.');
}

/** The class of caller a log line names (never who): identity refines it. */
export function identityClassOf(request: FastifyRequest, config: Config): 'admin' | 'bearer' | 'anonymous' {
  const auth = request.headers.authorization;
  if (!auth) return 'anonymous';
  return config.ops.adminToken && bearerMatches(auth, config.ops.adminToken) ? 'admin' : 'bearer';
}

/** Constant-time comparison of `Authorization: Bearer <token>` with the expected token. */
export function bearerMatches(header: string | undefined, expected: string): boolean {
  const given = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
