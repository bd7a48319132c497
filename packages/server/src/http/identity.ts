import { fastifyCookie } from '@fastify/cookie'; // also its reply.setCookie types
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TributaryError } from '../errors.js';
import type { Session } from '../identity/accounts.js';
import type { Caller, Scope } from '../identity/types.js';
import { hasScope } from '../identity/types.js';
import type { Spend } from '../identity/quotas.js';
import type { AppContext } from './context.js';

export const ACCESS_COOKIE = 'tributary_access';
export const REFRESH_COOKIE = 'tributary_refresh';

const callers = new WeakMap<FastifyRequest, Promise<Caller>>();
const cookieJars = new WeakMap<FastifyRequest, Record<string, string | undefined>>();

/**
 * A request cookie. The cookie plugin parses nothing per request (`hook: false`, and only the
 * routes setting cookies have it, app.ts): most requests read no cookie, so the header is parsed
 * here, once, by the first reader. The plugin's `parse` works once it is registered (it loads
 * the `cookie` module then), which buildApp does before listening.
 */
export function cookieOf(request: FastifyRequest, name: string): string | undefined {
  let jar = cookieJars.get(request);
  if (jar === undefined) {
    const header = request.headers.cookie;
    jar = header ? fastifyCookie.parse(header) : {};
    cookieJars.set(request, jar);
  }
  return jar[name];
}

/** The request's caller, resolved once (header, then `access_token` query, then cookie). */
export function callerOf(request: FastifyRequest, ctx: AppContext): Promise<Caller> {
  let caller = callers.get(request);
  if (!caller) {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
    const query = (request.query as Record<string, unknown> | undefined)?.access_token;
    caller = ctx.identity.authenticator.resolve(
      {
        bearer,
        query: typeof query === 'string' && query !== '' ? query : undefined,
        cookie: cookieOf(request, ACCESS_COOKIE) || undefined,
      },
      request.ip,
    );
    callers.set(request, caller);
  }
  return caller;
}

/** The caller, refused unless it may use a route of this scope. */
export async function authorize(request: FastifyRequest, ctx: AppContext, scope: Scope): Promise<Caller> {
  const caller = await callerOf(request, ctx);
  if (caller.kind === 'anonymous') {
    if (!ctx.identity.config.anonymous || scope === 'admin') throw new TributaryError('authentication_required');
  } else if (!hasScope(caller, scope)) {
    throw new TributaryError(scope === 'admin' && caller.kind === 'user' ? 'forbidden' : 'insufficient_scope', undefined, { scope });
  }
  return caller;
}

/** A signed-in user (not a key): account management. */
export async function requireUser(request: FastifyRequest, ctx: AppContext): Promise<Extract<Caller, { kind: 'user' }>> {
  const caller = await callerOf(request, ctx);
  if (caller.kind !== 'user') throw new TributaryError('authentication_required', 'Sign in (an API key cannot manage the account).');
  return caller;
}

/** A user or a key of a user. */
export async function requireAccount(request: FastifyRequest, ctx: AppContext): Promise<Exclude<Caller, { kind: 'anonymous' }> & { userId: string }> {
  const caller = await callerOf(request, ctx);
  if (caller.kind === 'anonymous' || caller.userId === null) throw new TributaryError('authentication_required');
  return caller as Exclude<Caller, { kind: 'anonymous' }> & { userId: string };
}

export interface ModelRequest {
  scope: 'compare' | 'chat';
  models: string[];
  /** Model responses it will make: one per model unless a batch job says (prompts × models). */
  responses?: number | undefined;
  tier: string;
  fingerprint?: string | undefined;
  /** Seed routes add FastAPI's `detail` text to refusals. */
  seed?: boolean;
}

/**
 * Authorises a request that will call models and charges its limits, before any provider call.
 * `run` starts it; if that throws (a 4xx of validation) the charge is given back.
 */
export async function admitModels<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  ctx: AppContext,
  req: ModelRequest,
  run: (caller: Caller) => Promise<T>,
): Promise<T> {
  const caller = await authorize(request, ctx, req.scope);
  const models = new Set(req.models).size;
  const spend: Spend = { models, responses: req.responses ?? models, extended: req.tier === 'extended', fingerprint: req.fingerprint };
  const { quotas } = ctx.identity;
  let headers: Record<string, string>;
  try {
    headers = await quotas.admit(caller, spend);
  } catch (err) {
    if (req.seed && err instanceof TributaryError) throw new TributaryError(err.code, err.message, { ...err.details, detail: err.message }, err.headers);
    throw err;
  }
  reply.headers(headers);
  try {
    return await run(caller);
  } catch (err) {
    await quotas.refund(caller, spend);
    throw err;
  }
}

/** Counts a finished request's tokens against its caller's daily token limit. */
export function countTokens(
  request: FastifyRequest,
  ctx: AppContext,
  caller: Caller,
  done: Promise<{ results: { inputTokens?: number | undefined; outputTokens?: number | undefined }[] }>,
  fingerprint?: string,
): void {
  done
    .then((d) =>
      ctx.identity.quotas.addTokens(
        caller,
        d.results.reduce((n, r) => n + (r.inputTokens ?? 0) + (r.outputTokens ?? 0), 0),
        fingerprint,
      ),
    )
    .catch((err: unknown) => request.log.warn({ err }, 'token count failed'));
}

/** Owned things answer 404 to anyone but their owner; anonymous ones stay reachable by id. */
export async function assertOwner(request: FastifyRequest, ctx: AppContext, owner: string | null | undefined, notFound: TributaryError): Promise<void> {
  if (owner === undefined) throw notFound;
  if (owner === null) return;
  const caller = await callerOf(request, ctx);
  if (caller.kind === 'anonymous' || caller.userId !== owner) throw notFound;
}

export async function assertComparisonOwner(request: FastifyRequest, ctx: AppContext, id: string): Promise<void> {
  const owner = await ctx.comparisons.ownerOf(id);
  await assertOwner(request, ctx, owner, new TributaryError('comparison_not_found', `No comparison ${id}.`));
}

/** A follow-up may only continue the caller's own (or an anonymous) conversation. */
export async function assertConversationOwner(request: FastifyRequest, ctx: AppContext, id: string | undefined): Promise<void> {
  if (id === undefined) return;
  const owner = await ctx.store.conversationOwner(id);
  if (owner === undefined) return; // the service answers conversation_not_found itself
  await assertOwner(request, ctx, owner, new TributaryError('conversation_not_found', `No conversation ${id}.`));
}

/** The web app's session: HttpOnly cookies, Secure behind https. */
export function setSessionCookies(request: FastifyRequest, reply: FastifyReply, session: Session): void {
  const secure = request.protocol === 'https';
  reply.setCookie(ACCESS_COOKIE, session.accessToken, { path: '/', httpOnly: true, sameSite: 'lax', secure, maxAge: session.expiresIn });
  reply.setCookie(REFRESH_COOKIE, session.refreshToken, { path: '/v1/auth', httpOnly: true, sameSite: 'lax', secure, maxAge: session.refreshExpiresIn });
}

export function clearSessionCookies(reply: FastifyReply): void {
  reply.clearCookie(ACCESS_COOKIE, { path: '/' });
  reply.clearCookie(REFRESH_COOKIE, { path: '/v1/auth' });
}
