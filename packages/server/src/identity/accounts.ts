import type { Kysely } from 'kysely';
import type { IdentityConfig } from '../config/schema.js';
import { TributaryError } from '../errors.js';
import type { Database, Dialect } from '../store/database.js';
import { fromDbTime, toDbTime } from '../store/time.js';
import { AccessTokens } from './access-tokens.js';
import { newId, secretToken, sha256 } from './ids.js';
import type { LimitStore } from './limit-store.js';
import { hashPassword, verifyPassword } from './passwords.js';
import { quotaError } from './quotas.js';
import type { Role } from './types.js';

export interface User {
  id: string;
  email: string;
  role: Role;
  tier: string | null;
  createdAt: string;
  lastLoginAt: string | null;
}

export interface Session {
  user: User;
  accessToken: string;
  refreshToken: string;
  sessionId: string;
  expiresIn: number;
  refreshExpiresIn: number;
}

/** What an audit row needs to know about a refusal or an event, beyond the caller. */
export type AccountEvent =
  | { action: 'auth.register'; userId: string }
  | { action: 'auth.login'; userId: string }
  | { action: 'auth.login_failed'; userId: string | null; reason: 'unknown_email' | 'wrong_password' | 'throttled' }
  | { action: 'auth.refresh_reuse'; userId: string; sessionId: string }
  | { action: 'auth.logout'; userId: string };

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * Accounts and sessions: scrypt passwords, short-lived access JWTs, rotating refresh tokens in
 * families (a session). Reusing a spent refresh token revokes its whole session.
 */
export class Accounts {
  readonly tokens: AccessTokens;
  /** Verified against when the email is unknown, so both failures take the same time. */
  private dummyHash: Promise<string> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
    private readonly config: IdentityConfig,
    secret: string,
    private readonly counters: LimitStore,
    private readonly onEvent: (event: AccountEvent, ip: string) => void,
  ) {
    this.tokens = new AccessTokens(secret, config.accessTokenTtlSeconds);
  }

  async register(emailInput: string, password: string, ip: string, role: Role = 'user'): Promise<User> {
    const email = normaliseEmail(emailInput);
    if (!EMAIL.test(email)) throw new TributaryError('invalid_field', 'email: not an email address.', { field: 'email' });
    if (password.length < this.config.minPasswordLength) {
      throw new TributaryError('weak_password', `Use at least ${this.config.minPasswordLength} characters.`, { minLength: this.config.minPasswordLength });
    }
    if (role === 'user') await this.chargeRegistration(ip);
    const id = newId('usr');
    const now = new Date();
    try {
      await this.db
        .insertInto('users')
        .values({
          id,
          email,
          password_hash: await hashPassword(password, this.config.scrypt),
          role,
          tier: null,
          created_at: this.time(now),
          last_login_at: null,
        })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new TributaryError('email_taken');
      throw err;
    }
    this.onEvent({ action: 'auth.register', userId: id }, ip);
    return { id, email, role, tier: null, createdAt: now.toISOString(), lastLoginAt: null };
  }

  /** Every account brings the user limits: one IP may create only so many a day. */
  private async chargeRegistration(ip: string): Promise<void> {
    const now = Date.now();
    const dayEnd = Math.floor(now / 86_400_000) * 86_400_000 + 86_400_000;
    const limit = this.config.login.maxRegistrationsPerIpPerDay;
    const result = await this.counters.consume([{ bucket: `register:${ip}:accounts:d${dayEnd}`, amount: 1, limit, windowEnd: dayEnd }]);
    if (!result.allowed) throw quotaError('registrations_per_day', limit, result.count, 1, dayEnd, now);
  }

  /** Throttled per account and per IP (failures in a window); a throttled attempt is not even checked. */
  async login(emailInput: string, password: string, ip: string): Promise<Session> {
    const email = normaliseEmail(emailInput);
    const { login } = this.config;
    const now = Date.now();
    const windowMs = login.windowSeconds * 1000;
    const windowEnd = Math.floor(now / windowMs) * windowMs + windowMs;
    const buckets = [`login:${sha256(email).slice(0, 32)}:failures:w${windowEnd}`, `login:${ip}:failures:w${windowEnd}`];
    const [account, fromIp] = await this.counters.get(buckets);
    const row = await this.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
    if (account! >= login.maxFailuresPerAccount || fromIp! >= login.maxFailuresPerIp) {
      this.onEvent({ action: 'auth.login_failed', userId: row?.id ?? null, reason: 'throttled' }, ip);
      const perAccount = account! >= login.maxFailuresPerAccount;
      throw quotaError('login_failures', perAccount ? login.maxFailuresPerAccount : login.maxFailuresPerIp, perAccount ? account! : fromIp!, 1, windowEnd, now);
    }
    this.dummyHash ??= hashPassword('not a password', this.config.scrypt);
    const ok = await verifyPassword(password, row?.password_hash ?? (await this.dummyHash));
    if (!row || !ok) {
      await this.counters.consume(buckets.map((bucket) => ({ bucket, amount: 1, limit: Infinity, windowEnd })));
      this.onEvent({ action: 'auth.login_failed', userId: row?.id ?? null, reason: row ? 'wrong_password' : 'unknown_email' }, ip);
      throw new TributaryError('invalid_credentials');
    }
    await this.db
      .updateTable('users')
      .set({ last_login_at: this.time(new Date()) })
      .where('id', '=', row.id)
      .execute();
    this.onEvent({ action: 'auth.login', userId: row.id }, ip);
    return this.openSession(toUser(row));
  }

  /** Rotates: the presented token is spent and a new pair issued. A spent one revokes the session. */
  async refresh(refreshToken: string, ip: string): Promise<Session> {
    const hash = sha256(refreshToken);
    const row = await this.db
      .selectFrom('refresh_tokens')
      .innerJoin('sessions', 'sessions.id', 'refresh_tokens.session_id')
      .select(['refresh_tokens.used_at', 'sessions.id as session_id', 'sessions.user_id', 'sessions.revoked_at', 'sessions.expires_at'])
      .where('refresh_tokens.token_hash', '=', hash)
      .executeTakeFirst();
    if (!row) throw new TributaryError('invalid_token', 'Unknown refresh token.');
    if (row.revoked_at !== null) throw new TributaryError('token_revoked');
    if (fromDbTime(row.expires_at).getTime() <= Date.now()) throw new TributaryError('token_expired', 'The session has expired; sign in again.');
    const spent =
      row.used_at === null
        ? await this.db
            .updateTable('refresh_tokens')
            .set({ used_at: this.time(new Date()) })
            .where('token_hash', '=', hash)
            .where('used_at', 'is', null)
            .executeTakeFirst()
        : undefined;
    if (!spent || Number(spent.numUpdatedRows) === 0) {
      if (await this.justRotated(hash))
        throw new TributaryError('invalid_token', 'This refresh token was rotated moments ago (another tab?); the newest one is in effect.');
      await this.revokeSession(row.session_id);
      this.onEvent({ action: 'auth.refresh_reuse', userId: row.user_id, sessionId: row.session_id }, ip);
      throw new TributaryError('refresh_reused');
    }
    const user = await this.getUser(row.user_id);
    if (!user) throw new TributaryError('token_revoked');
    return this.issue(user, row.session_id, fromDbTime(row.expires_at));
  }

  private async justRotated(hash: string): Promise<boolean> {
    const row = await this.db.selectFrom('refresh_tokens').select('used_at').where('token_hash', '=', hash).executeTakeFirst();
    const grace = this.config.refreshReuseGraceSeconds * 1000;
    // SQLite keeps whole seconds: count the rotation's second as a whole.
    return grace > 0 && !!row?.used_at && Date.now() - fromDbTime(row.used_at).getTime() < grace + (this.dialect === 'sqlite' ? 1000 : 0);
  }

  async logout(sessionId: string, userId: string, ip: string): Promise<void> {
    await this.revokeSession(sessionId);
    this.onEvent({ action: 'auth.logout', userId }, ip);
  }

  /** The user of a live session (one query: an access token dies with its session); `token_revoked` otherwise. */
  async sessionUser(sessionId: string, userId: string): Promise<User> {
    const row = await this.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .select(['users.id', 'users.email', 'users.role', 'users.tier', 'users.created_at', 'users.last_login_at', 'sessions.revoked_at'])
      .where('sessions.id', '=', sessionId)
      .executeTakeFirst();
    if (!row || row.revoked_at !== null || row.id !== userId) throw new TributaryError('token_revoked');
    return toUser(row);
  }

  async getUser(id: string): Promise<User | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toUser(row) : undefined;
  }

  async findByEmail(email: string): Promise<User | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('email', '=', normaliseEmail(email)).executeTakeFirst();
    return row ? toUser(row) : undefined;
  }

  async listUsers(limit: number): Promise<User[]> {
    return (await this.db.selectFrom('users').selectAll().orderBy('created_at').limit(limit).execute()).map(toUser);
  }

  async update(id: string, change: { role?: Role | undefined; tier?: string | null | undefined }): Promise<User> {
    const set: { role?: string; tier?: string | null } = {};
    if (change.role !== undefined) set.role = change.role;
    if (change.tier !== undefined) set.tier = change.tier;
    if (Object.keys(set).length > 0) await this.db.updateTable('users').set(set).where('id', '=', id).execute();
    const user = await this.getUser(id);
    if (!user) throw new TributaryError('user_not_found');
    return user;
  }

  /** The configured first admin: created, or promoted if the account exists. */
  async ensureAdmin(email: string, password: string): Promise<User> {
    const existing = await this.findByEmail(email);
    if (existing) return existing.role === 'admin' ? existing : this.update(existing.id, { role: 'admin' });
    return this.register(email, password, 'local', 'admin');
  }

  async openSession(user: User): Promise<Session> {
    const sessionId = newId('ses');
    const now = new Date();
    const expiresAt = new Date(now.getTime() + this.config.refreshTokenTtlSeconds * 1000);
    await this.db
      .insertInto('sessions')
      .values({ id: sessionId, user_id: user.id, created_at: this.time(now), expires_at: this.time(expiresAt), revoked_at: null })
      .execute();
    return this.issue(user, sessionId, expiresAt);
  }

  private async issue(user: User, sessionId: string, expiresAt: Date): Promise<Session> {
    const refreshToken = secretToken('rt_');
    await this.db
      .insertInto('refresh_tokens')
      .values({ token_hash: sha256(refreshToken), session_id: sessionId, created_at: this.time(new Date()), used_at: null })
      .execute();
    const accessToken = await this.tokens.sign({ userId: user.id, sessionId, role: user.role });
    return {
      user,
      accessToken,
      refreshToken,
      sessionId,
      expiresIn: this.config.accessTokenTtlSeconds,
      refreshExpiresIn: Math.max(0, Math.floor((expiresAt.getTime() - Date.now()) / 1000)),
    };
  }

  private async revokeSession(sessionId: string): Promise<void> {
    await this.db
      .updateTable('sessions')
      .set({ revoked_at: this.time(new Date()) })
      .where('id', '=', sessionId)
      .where('revoked_at', 'is', null)
      .execute();
  }

  private time(d: Date) {
    return toDbTime(this.dialect, d);
  }
}

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function toUser(row: {
  id: string;
  email: string;
  role: string;
  tier: string | null;
  created_at: string | Date;
  last_login_at: string | Date | null;
}): User {
  return {
    id: row.id,
    email: row.email,
    role: row.role === 'admin' ? 'admin' : 'user',
    tier: row.tier,
    createdAt: fromDbTime(row.created_at).toISOString(),
    lastLoginAt: row.last_login_at === null ? null : fromDbTime(row.last_login_at).toISOString(),
  };
}

function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
