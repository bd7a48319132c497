import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { TributaryError } from '../errors.js';
import type { Role } from './types.js';

export interface AccessClaims {
  userId: string;
  sessionId: string;
  role: Role;
}

const ISSUER = 'tributary';
export const AUDIENCE = 'tributary-api';

/** Short-lived HS256 access tokens. The algorithm is pinned: `none` and every other alg are refused. */
export class AccessTokens {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    readonly ttlSeconds: number,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  sign(claims: AccessClaims): Promise<string> {
    return new SignJWT({ sid: claims.sessionId, role: claims.role })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(claims.userId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.key);
  }

  /** Throws `token_expired` or `invalid_token`. */
  async verify(token: string): Promise<AccessClaims> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredClaims: ['sub', 'exp', 'sid'],
      });
      const { sub, sid, role } = payload as { sub?: unknown; sid?: unknown; role?: unknown };
      if (typeof sub !== 'string' || typeof sid !== 'string' || (role !== 'user' && role !== 'admin')) {
        throw new TributaryError('invalid_token', 'The access token lacks its claims.');
      }
      return { userId: sub, sessionId: sid, role };
    } catch (err) {
      if (err instanceof TributaryError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new TributaryError('token_expired');
      throw new TributaryError('invalid_token', `The access token is invalid: ${(err as Error).message}`);
    }
  }
}
