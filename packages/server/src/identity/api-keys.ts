import { timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import { TributaryError } from '../errors.js';
import type { TierLimits } from '../config/schema.js';
import type { Database, Dialect } from '../store/database.js';
import { fromDbTime, toDbTime } from '../store/time.js';
import { toUser, type User } from './accounts.js';
import { newId, secretToken, sha256 } from './ids.js';
import { SCOPES, type Scope } from './types.js';

export const KEY_PREFIX = 'trb_';

export interface ApiKeyInfo {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  limits: TierLimits | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** A key as the authenticator sees it, with its user. */
export interface ResolvedKey {
  id: string;
  scopes: Scope[];
  limits: TierLimits | null;
  user: User;
}

/** API keys: `trb_` + 256 random bits, stored as SHA-256 and looked up by it; shown once. */
export class ApiKeys {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  async create(userId: string, name: string, scopes: Scope[], limits: TierLimits | null = null): Promise<ApiKeyInfo & { key: string }> {
    const key = secretToken(KEY_PREFIX);
    const id = newId('key');
    const now = new Date();
    const unique = [...new Set(scopes)].sort((a, b) => SCOPES.indexOf(a) - SCOPES.indexOf(b));
    await this.db
      .insertInto('api_keys')
      .values({
        id,
        user_id: userId,
        name,
        key_hash: sha256(key),
        prefix: key.slice(0, KEY_PREFIX.length + 6),
        scopes: JSON.stringify(unique),
        limits: limits ? JSON.stringify(limits) : null,
        created_at: toDbTime(this.dialect, now),
        last_used_at: null,
        revoked_at: null,
      })
      .execute();
    return {
      id,
      key,
      name,
      prefix: key.slice(0, KEY_PREFIX.length + 6),
      scopes: unique,
      limits,
      createdAt: now.toISOString(),
      lastUsedAt: null,
      revokedAt: null,
    };
  }

  async list(userId: string): Promise<ApiKeyInfo[]> {
    const rows = await this.db.selectFrom('api_keys').selectAll().where('user_id', '=', userId).orderBy('created_at', 'desc').execute();
    return rows.map(toInfo);
  }

  /** Revokes one of the user's keys; the key keeps existing (its use is refused with `key_revoked`). */
  async revoke(userId: string, id: string): Promise<ApiKeyInfo> {
    await this.db
      .updateTable('api_keys')
      .set({ revoked_at: toDbTime(this.dialect, new Date()) })
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .execute();
    const row = await this.db.selectFrom('api_keys').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    if (!row) throw new TributaryError('key_not_found', `No key ${id}.`);
    return toInfo(row);
  }

  /** Throws `invalid_key` or `key_revoked`. */
  async resolve(key: string): Promise<ResolvedKey> {
    const digest = sha256(key);
    // One query: the key and its user (an erased user's keys are gone with it).
    const row = await this.db
      .selectFrom('api_keys')
      .innerJoin('users', 'users.id', 'api_keys.user_id')
      .select([
        'api_keys.id as key_id',
        'api_keys.key_hash',
        'api_keys.scopes',
        'api_keys.limits',
        'api_keys.revoked_at',
        'api_keys.last_used_at',
        'users.id',
        'users.email',
        'users.role',
        'users.tier',
        'users.created_at',
        'users.last_login_at',
      ])
      .where('api_keys.key_hash', '=', digest)
      .executeTakeFirst();
    // The lookup is by hash; the compare is constant-time anyway, so no timing depends on the key.
    if (!row || !timingSafeEqual(Buffer.from(row.key_hash), Buffer.from(digest))) throw new TributaryError('invalid_key');
    if (row.revoked_at !== null) throw new TributaryError('key_revoked');
    this.touch(row.key_id, row.last_used_at);
    return { id: row.key_id, scopes: JSON.parse(row.scopes) as Scope[], limits: row.limits ? (JSON.parse(row.limits) as TierLimits) : null, user: toUser(row) };
  }

  /** Records use at most once a minute per key, off the request's path. */
  private touch(id: string, lastUsed: string | Date | null): void {
    const now = new Date();
    if (lastUsed !== null && now.getTime() - fromDbTime(lastUsed).getTime() < 60_000) return;
    this.db
      .updateTable('api_keys')
      .set({ last_used_at: toDbTime(this.dialect, now) })
      .where('id', '=', id)
      .execute()
      .catch(() => undefined);
  }

  async ids(userId: string): Promise<string[]> {
    return (await this.db.selectFrom('api_keys').select('id').where('user_id', '=', userId).execute()).map((r) => r.id);
  }
}

function toInfo(row: {
  id: string;
  name: string;
  prefix: string;
  scopes: string;
  limits: string | null;
  created_at: string | Date;
  last_used_at: string | Date | null;
  revoked_at: string | Date | null;
}): ApiKeyInfo {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: JSON.parse(row.scopes) as Scope[],
    limits: row.limits ? (JSON.parse(row.limits) as TierLimits) : null,
    createdAt: fromDbTime(row.created_at).toISOString(),
    lastUsedAt: row.last_used_at === null ? null : fromDbTime(row.last_used_at).toISOString(),
    revokedAt: row.revoked_at === null ? null : fromDbTime(row.revoked_at).toISOString(),
  };
}
