import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** What identifying a caller needs from a request (an HTTP request or a WebSocket upgrade). */
export interface RequestLike {
  headers: IncomingHttpHeaders;
  socket: { remoteAddress?: string | undefined };
}

export const ANON_COOKIE = 'tributary_anon';

/**
 * The identity flags bucket by: `user:<id>` / `key:<id>` once identity lands (it refines this
 * one function), else `anon:<id>` from a valid signed anonymous cookie, else `ip:<address>`.
 */
export function identityKeyOf(request: RequestLike, cookieSecret?: string): string {
  if (cookieSecret) {
    const anon = verifiedAnonymousId(cookieOf(request.headers.cookie, ANON_COOKIE), cookieSecret);
    if (anon) return `anon:${anon}`;
  }
  return `ip:${request.socket.remoteAddress ?? 'unknown'}`;
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
