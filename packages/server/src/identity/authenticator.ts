import { createHash, timingSafeEqual } from 'node:crypto';
import { TributaryError } from '../errors.js';
import type { Accounts } from './accounts.js';
import { KEY_PREFIX, type ApiKeys } from './api-keys.js';
import type { Caller } from './types.js';

/** Where a request may carry a credential; the first present one is used, in this order. */
export interface Credentials {
  /** `Authorization: Bearer <…>`. */
  bearer?: string | undefined;
  /** `access_token` query parameter (WebSocket, EventSource, long-poll). */
  query?: string | undefined;
  /** The web app's HttpOnly access cookie. */
  cookie?: string | undefined;
}

export const ANONYMOUS_BEARER = 'anonymous';
const JWT_SHAPE = /^[\w-]*\.[\w-]*\.[\w-]*$/;
const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Resolves credentials to a caller. None is anonymous; one presented but invalid, expired or
 * revoked is refused (401), never treated as anonymous.
 */
export class Authenticator {
  private readonly publishDigest: Buffer | undefined;

  constructor(
    private readonly accounts: Accounts,
    private readonly keys: ApiKeys,
    publishKey: string | undefined,
  ) {
    this.publishDigest = publishKey ? digest(publishKey) : undefined;
  }

  async resolve(credentials: Credentials, ip: string): Promise<Caller> {
    const presented = credentials.bearer ?? credentials.query ?? credentials.cookie;
    // `anonymous` says "no credential" explicitly, for clients that must send one (the OpenAI SDK needs an apiKey).
    if (!presented || presented === ANONYMOUS_BEARER) return { kind: 'anonymous', ip };
    // The configured TRIBUTARY_PUBLISH_KEY is one publish-scoped key of no user.
    if (this.publishDigest && timingSafeEqual(digest(presented), this.publishDigest)) {
      return { kind: 'key', ip, keyId: 'publish-key', scopes: ['publish'], userId: null, role: 'user', tier: null };
    }
    if (presented.startsWith(KEY_PREFIX)) {
      const { id, scopes, limits, user } = await this.keys.resolve(presented);
      return { kind: 'key', ip, keyId: id, scopes, limits, userId: user.id, role: user.role, tier: user.tier };
    }
    if (!JWT_SHAPE.test(presented)) throw new TributaryError('unauthorized', 'The credential is neither an API key nor an access token of this server.');
    const claims = await this.accounts.tokens.verify(presented);
    const user = await this.accounts.sessionUser(claims.sessionId, claims.userId);
    return { kind: 'user', ip, userId: user.id, role: user.role, tier: user.tier, sessionId: claims.sessionId };
  }
}
