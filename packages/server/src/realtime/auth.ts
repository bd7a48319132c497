import { timingSafeEqual, createHash } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { TributaryError } from '../errors.js';
import type { Channel } from './channels.js';

/** Who a connection is: from a connection token, or anonymous. */
export interface Identity {
  /** Token subject; null for an anonymous connection. */
  sub: string | null;
  org?: string;
  /** When the token lists channels, it may read exactly those (`*` at the end is a prefix). */
  channels?: string[];
}

export const ANONYMOUS: Identity = Object.freeze({ sub: null });

export interface AuthOptions {
  tokenSecret: string | undefined;
  publishKey: string | undefined;
  anonymousPublic: boolean;
  /**
   * Other credentials a connection may present (identity/'s access tokens and API keys):
   * their identity, undefined when the token is not one of them, or a coded throw.
   */
  resolveCredential?: ((token: string) => Promise<Identity | undefined>) | undefined;
  /**
   * The owner check of a `job:<id>` channel (app.ts wires JobService's): whether this subject
   * (null: anonymous) may read the job. Without it no job channel is readable.
   */
  mayReadJob?: ((sub: string | null, jobId: string) => Promise<boolean>) | undefined;
}

/**
 * Connection tokens (JWT HS256 signed by the application's backend, like Centrifugo's) and the
 * publish key. The identity issue will mint the same tokens for its users and keys.
 */
export class RealtimeAuth {
  private readonly secret: Uint8Array | undefined;
  private readonly publishDigest: Buffer | undefined;

  constructor(private readonly opts: AuthOptions) {
    this.secret = opts.tokenSecret ? new TextEncoder().encode(opts.tokenSecret) : undefined;
    this.publishDigest = opts.publishKey ? digest(opts.publishKey) : undefined;
  }

  /** The identity of a token, ANONYMOUS for none; throws `invalid_token` for a bad one. */
  async identify(token: string | undefined | null): Promise<Identity> {
    if (token === undefined || token === null || token === '') return ANONYMOUS;
    const other = await this.opts.resolveCredential?.(token);
    if (other) return other;
    if (!this.secret) throw new TributaryError('invalid_token', 'This server accepts no connection tokens (TRIBUTARY_TOKEN_SECRET is not set).');
    try {
      const { payload } = await jwtVerify(token, this.secret, { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] });
      const { sub, org, channels } = payload as { sub?: unknown; org?: unknown; channels?: unknown };
      if (typeof sub !== 'string' || sub === '') throw new TributaryError('invalid_token', 'The token has no subject.');
      if (org !== undefined && (typeof org !== 'string' || org === '')) throw new TributaryError('invalid_token', "The token's org claim is not a string.");
      if (channels !== undefined && !(Array.isArray(channels) && channels.every((c) => typeof c === 'string'))) {
        throw new TributaryError('invalid_token', "The token's channels claim is not a list of strings.");
      }
      return { sub, ...(org ? { org } : {}), ...(channels ? { channels: channels as string[] } : {}) };
    } catch (err) {
      if (err instanceof TributaryError) throw err;
      const expired = err instanceof joseErrors.JWTExpired;
      throw new TributaryError('invalid_token', expired ? 'The connection token has expired.' : `The connection token is invalid: ${(err as Error).message}`);
    }
  }

  /** A connection token for a subject (POST /v1/tokens/connection); `unavailable` without a token secret. */
  async mint(identity: Identity, ttlSeconds: number): Promise<string> {
    if (!this.secret) throw new TributaryError('unavailable', 'Connection tokens need TRIBUTARY_TOKEN_SECRET.');
    return new SignJWT({ ...(identity.org ? { org: identity.org } : {}), ...(identity.channels ? { channels: identity.channels } : {}) })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(identity.sub ?? '')
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`)
      .sign(this.secret);
  }

  /** Throws `channel_forbidden` unless the identity may read the channel (a job's: asks its owner check). */
  async authorize(identity: Identity, channel: Channel): Promise<void> {
    const allowed =
      this.mayRead(identity, channel) &&
      (channel.namespace !== 'job' || ((await this.opts.mayReadJob?.(identity.sub, channel.name.slice('job:'.length))) ?? false));
    if (!allowed) {
      throw new TributaryError(
        'channel_forbidden',
        `${identity.sub === null ? 'An anonymous connection' : `Subject ${identity.sub}`} may not subscribe to ${channel.name}.`,
        { channel: channel.name },
      );
    }
  }

  /** The checks that need no lookup; a `job:` channel also needs `authorize`'s owner check. */
  mayRead(identity: Identity, channel: Channel): boolean {
    // A token's channel claim narrows what it reads but never grants a job: users mint their own
    // tokens with any claim (POST /v1/tokens/connection), so only the job's owner check can.
    if (channel.namespace === 'job') return !identity.channels || identity.channels.some((granted) => matches(granted, channel.name));
    if (identity.sub === null) return channel.namespace === 'public' && this.opts.anonymousPublic;
    if (identity.channels) return identity.channels.some((granted) => matches(granted, channel.name));
    if (channel.namespace === 'public') return true;
    if (channel.namespace === 'org') return identity.org === channel.owner;
    return identity.sub === channel.owner;
  }

  /** Checks `Authorization: Bearer <publish key>`; constant time. */
  authorizePublish(authorization: string | undefined): void {
    if (!this.publishDigest) throw new TributaryError('publish_disabled');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match || !timingSafeEqual(digest(match[1]!), this.publishDigest)) {
      throw new TributaryError('unauthorized', 'Publishing needs Authorization: Bearer <publish key>.');
    }
  }
}

/** Mints a connection token (what an application's backend does; `tributary token` for operators). */
export async function issueToken(
  secret: string,
  claims: { sub: string; org?: string | undefined; channels?: string[] | undefined },
  ttlSeconds: number,
): Promise<string> {
  const payload: Record<string, unknown> = {};
  if (claims.org !== undefined) payload.org = claims.org;
  if (claims.channels !== undefined) payload.channels = claims.channels;
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(new TextEncoder().encode(secret));
}

const digest = (s: string) => createHash('sha256').update(s).digest();

function matches(granted: string, channel: string): boolean {
  return granted.endsWith('*') ? channel.startsWith(granted.slice(0, -1)) : granted === channel;
}
