import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Session } from '../../identity/accounts.js';
import { TributaryError } from '../../errors.js';
import type { AppContext } from '../context.js';
import { REFRESH_COOKIE, clearSessionCookies, cookieOf, requireAccount, requireUser, setSessionCookies } from '../identity.js';
import { credentialsBody, refreshBody } from '../identity-schemas.js';
import { parseInput } from '../validate.js';
import { api, AUTH_ERRORS } from '../openapi.js';

/** Accounts and sessions: register, sign in, refresh (rotating), sign out, who am I. */
export function authRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { accounts } = ctx.identity;

  app.post(
    '/v1/auth/register',
    api({
      summary: 'Create an account and open a session',
      tags: ['identity'],
      body: credentialsBody,
      status: 201,
      errors: ['email_taken', 'weak_password', 'rate_limited'],
    }),
    async (request, reply) => {
      const body = parseInput(credentialsBody, request.body);
      const user = await accounts.register(body.email, body.password, request.ip);
      return reply.code(201).send(answer(request, reply, await accounts.openSession(user), body.session));
    },
  );

  app.post(
    '/v1/auth/login',
    api({ summary: 'Sign in', tags: ['identity'], body: credentialsBody, errors: ['invalid_credentials', 'rate_limited'] }),
    async (request, reply) => {
      const body = parseInput(credentialsBody, request.body);
      return answer(request, reply, await accounts.login(body.email, body.password, request.ip), body.session);
    },
  );

  app.post(
    '/v1/auth/refresh',
    api({
      summary: 'Rotate the refresh token for a new access token',
      tags: ['identity'],
      body: refreshBody,
      errors: ['authentication_required', 'token_expired', 'token_revoked', 'refresh_reused'],
    }),
    async (request, reply) => {
      const body = parseInput(refreshBody, request.body);
      const token = body.refreshToken ?? cookieOf(request, REFRESH_COOKIE);
      if (!token) throw new TributaryError('authentication_required', 'Send refreshToken or the refresh cookie.');
      return answer(request, reply, await accounts.refresh(token, request.ip), body.refreshToken ? body.session : 'cookie');
    },
  );

  app.post('/v1/auth/logout', api({ summary: 'Sign out (revokes the session)', tags: ['identity'], errors: AUTH_ERRORS }), async (request, reply) => {
    const caller = await requireUser(request, ctx);
    await accounts.logout(caller.sessionId, caller.userId, request.ip);
    clearSessionCookies(reply);
    return { status: 'signed_out' };
  });

  app.get('/v1/me', api({ summary: 'Who am I', tags: ['identity'], errors: AUTH_ERRORS }), async (request) => {
    const caller = await requireAccount(request, ctx);
    const user = await accounts.getUser(caller.userId);
    if (!user) throw new TributaryError('token_revoked');
    return { ...user, via: caller.kind, ...(caller.kind === 'key' ? { keyId: caller.keyId, scopes: caller.scopes } : {}) };
  });
}

function answer(request: FastifyRequest, reply: FastifyReply, session: Session, mode: 'token' | 'cookie') {
  const base = { user: session.user, expiresIn: session.expiresIn, tokenType: 'Bearer' };
  if (mode === 'cookie') {
    setSessionCookies(request, reply, session);
    return base;
  }
  return { ...base, accessToken: session.accessToken, refreshToken: session.refreshToken, refreshExpiresIn: session.refreshExpiresIn };
}
