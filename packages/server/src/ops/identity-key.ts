import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** What bucketing an anonymous caller needs from a request (an HTTP request or a WebSocket upgrade). */
export interface RequestLike {
  headers: IncomingHttpHeaders;
  /** The client's address: behind a trusted proxy the forwarded one (identity's rule, http/client-ip.ts). */
  ip: string;
}

/** Who is asking, as far as flags care (identity's `Caller` fits). */
export type FlagCaller = { kind: 'user'; userId: string } | { kind: 'key'; keyId: string } | { kind: 'anonymous' };

export const ANON_COOKIE = 'tributary_anon';

/**
 * The identity flags bucket by, so a rollout is sticky per person: `user:<id>` for a signed-in
 * user (every session, every address), `key:<id>` for an API key, else `anon:<id>` from a valid
 * signed anonymous cookie, else `ip:<client address>`.
 */
export function identityKeyOf(caller: FlagCaller, request: RequestLike, cookieSecret?: string): string {
  if (caller.kind === 'user') return `user:${caller.userId}`;
  if (caller.kind === 'key') return `key:${caller.keyId}`;
  if (cookieSecret) {
    const anon = verifiedAnonymousId(cookieOf(request.headers.cookie, ANON_COOKIE), cookieSecret);
    if (anon) return `anon:${anon}`;
  }
  return `ip:${request.ip}`;
}

/** `<id>.<base64url HMAC-SHA256 of id>`; anything else is ignored. */
export function signAnonymousId(id: string, secret: string): string {
  return `${id}.${createHmac('sha256', secret).update(id).digest('base64url')}`;
}

function verifiedAnonymousId(value: string | undefined, secret: string): string | undefined {
  if (!value) return undefined;
  const dot = value.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const id = value.slice(0, dot);
  const expected = Buffer.from(signAnonymousId(id, secret));
  const given = Buffer.from(value);
  return expected.length === given.length && timingSafeEqual(expected, given) ? id : undefined;
}

function cookieOf(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}
