import type { Kysely } from 'kysely';
import type { Database } from '../store/database.js';
import { fromDbTime } from '../store/time.js';
import type { Store } from '../store/types.js';
import type { Accounts } from './accounts.js';
import type { ApiKeys } from './api-keys.js';
import type { AuditLog } from './audit.js';
import type { LimitStore } from './limit-store.js';

/** Another room's data about a user (jobs): exported under `name`, erased with the account. */
export interface PrivacyContributor {
  name: string;
  export(userId: string): Promise<unknown>;
  erase(userId: string): Promise<void>;
}

/** Export and erasure of everything held about one user. */
export class Privacy {
  private readonly contributors: PrivacyContributor[] = [];

  constructor(private readonly deps: { db: Kysely<Database>; store: Store; accounts: Accounts; keys: ApiKeys; audit: AuditLog; counters: LimitStore }) {}

  /** Rooms identity does not know (it imports only the store) add their data here. */
  register(contributor: PrivacyContributor): void {
    this.contributors.push(contributor);
  }

  async export(userId: string): Promise<Record<string, unknown>> {
    const { db, store, accounts, keys, audit } = this.deps;
    await store.flush();
    const user = await accounts.getUser(userId);
    const comparisons = await store.listComparisons({ limit: 100_000, owner: userId });
    const conversationIds = [...new Set(comparisons.map((c) => c.conversationId))];
    const conversations = [];
    for (const id of conversationIds) conversations.push({ id, messages: (await store.getConversation(id)) ?? [] });
    const sessions = await db.selectFrom('sessions').select(['id', 'created_at', 'expires_at', 'revoked_at']).where('user_id', '=', userId).execute();
    const usage = await db.selectFrom('usage_log').selectAll().where('owner', '=', userId).orderBy('id').execute();
    const keyIds = await keys.ids(userId);
    const auditRows = [];
    for (const actor of [`user:${userId}`, ...keyIds.map((k) => `key:${k}`)]) auditRows.push(...(await audit.list({ actor, limit: 100_000 })).rows);
    return {
      exportedAt: new Date().toISOString(),
      user,
      apiKeys: await keys.list(userId),
      sessions: sessions.map((s) => ({
        id: s.id,
        createdAt: iso(s.created_at),
        expiresAt: iso(s.expires_at),
        revokedAt: s.revoked_at === null ? null : iso(s.revoked_at),
      })),
      comparisons,
      conversations,
      usage: usage.map((u) => ({
        comparisonId: u.comparison_id,
        kind: u.kind,
        modelsUsed: u.models_used,
        modelTokens: JSON.parse(u.model_tokens),
        inputTokens: Number(u.input_tokens),
        outputTokens: Number(u.output_tokens),
        costUsd: Number(u.cost_usd),
        createdAt: iso(u.created_at),
      })),
      audit: auditRows,
      ...Object.fromEntries(await Promise.all(this.contributors.map(async (c) => [c.name, await c.export(userId)] as const))),
    };
  }

  /** Deletes profile, sessions, keys, comparisons, conversations and the contributors' data; usage rows stay, without who. */
  async erase(userId: string): Promise<void> {
    const { db, store, keys, audit, counters } = this.deps;
    await store.flush();
    const keyIds = await keys.ids(userId);
    for (const c of this.contributors) await c.erase(userId);
    await db.transaction().execute(async (trx) => {
      const owned = trx.selectFrom('comparisons').select('id').where('owner', '=', userId);
      const conversations = trx.selectFrom('comparisons').select('conversation_id').where('owner', '=', userId);
      await trx.deleteFrom('comparison_results').where('comparison_id', 'in', owned).execute();
      await trx.deleteFrom('messages').where('conversation_id', 'in', conversations).execute();
      await trx.deleteFrom('conversations').where('id', 'in', conversations).execute();
      await trx.deleteFrom('comparisons').where('owner', '=', userId).execute();
      await trx
        .deleteFrom('refresh_tokens')
        .where('session_id', 'in', trx.selectFrom('sessions').select('id').where('user_id', '=', userId))
        .execute();
      await trx.deleteFrom('sessions').where('user_id', '=', userId).execute();
      await trx.deleteFrom('api_keys').where('user_id', '=', userId).execute();
      await trx.deleteFrom('users').where('id', '=', userId).execute();
      await trx.updateTable('usage_log').set({ owner: null, key_id: null }).where('owner', '=', userId).execute();
    });
    await counters.forget(userId);
    await audit.anonymise(userId, keyIds);
  }
}

const iso = (t: string | Date) => fromDbTime(t).toISOString();
