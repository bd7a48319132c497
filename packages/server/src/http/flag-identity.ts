import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';
import type { FastifyRequest } from 'fastify';
import type { FlagCaller } from '../ops/identity-key.js';
import { connectionCredential } from '../transports/ws-server.js';
import type { AppContext } from './context.js';
import { callerOf } from './identity.js';

const ANONYMOUS: FlagCaller = { kind: 'anonymous' };

/**
 * Which peers may name the client in X-Forwarded-For: identity's `trustedProxies`, compiled once.
 * Fastify's `trustProxy` is given this same function, so `request.ip` (limits, audit, flags) and
 * a WebSocket upgrade's address follow one rule.
 */
export function trustedProxyFn(trustedProxies: readonly string[]): ((address: string, hop: number) => boolean) | false {
  return trustedProxies.length > 0 ? proxyAddr.compile([...trustedProxies]) : false;
}

/** A raw request's client address by that rule (what Fastify's `request.ip` is for an HTTP request). */
export function clientIpOf(req: IncomingMessage, trust: ((address: string, hop: number) => boolean) | false): string {
  return trust ? proxyAddr(req, trust) : (req.socket.remoteAddress ?? 'unknown');
}

/**
 * The flag identity of an HTTP request: its user or key when it carries a valid credential, else
 * anonymous (a credential that fails is the route's business to refuse, not the flag's).
 */
export async function flagIdentityOf(request: FastifyRequest, ctx: AppContext): Promise<string> {
  const caller: FlagCaller = await callerOf(request, ctx).catch(() => ANONYMOUS);
  return ctx.ops.identityKeyOf(caller, { headers: request.headers, ip: request.ip });
}

/**
 * The flag identity of a WebSocket upgrade, from the credential it carries: a session or API key
 * as on HTTP, or a realtime connection token, whose subject is the user it was minted for.
 */
export function upgradeFlagIdentity(ctx: Pick<AppContext, 'identity' | 'ops' | 'realtime'>, trust: ((address: string, hop: number) => boolean) | false) {
  const callerOfUpgrade = async (credential: string | undefined, ip: string): Promise<FlagCaller> => {
    if (!credential) return ANONYMOUS;
    const caller = await ctx.identity.authenticator.resolve({ bearer: credential }, ip).catch(() => undefined);
    if (caller) return caller;
    const { sub } = await ctx.realtime.auth.identify(credential).catch(() => ({ sub: null }));
    return sub ? { kind: 'user', userId: sub } : ANONYMOUS;
  };
  return async (req: IncomingMessage): Promise<string> => {
    const ip = clientIpOf(req, trust);
    const caller = await callerOfUpgrade(connectionCredential(req, new URL(req.url ?? '/', 'http://x')), ip);
    return ctx.ops.identityKeyOf(caller, { headers: req.headers, ip });
  };
}
