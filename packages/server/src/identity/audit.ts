import type { Kysely } from 'kysely';
import type { Database, Dialect } from '../store/database.js';
import { fromDbTime, toDbTime } from '../store/time.js';
import type { AuditRecord, Store } from '../store/types.js';

export interface AuditQuery {
  actor?: string | undefined;
  action?: string | undefined;
  outcome?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  /** Rows with an id below this (the previous page's `nextBefore`). */
  before?: number | undefined;
  limit: number;
}

export interface AuditRow {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
  requestId: string | null;
  ip: string | null;
  details: unknown;
}

/**
 * The audit trail: rows queued through the store's batched writes (a clean shutdown flushes
 * them), read back filtered and paged, purged after the retention period.
 */
export class AuditLog {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
    private readonly retentionDays: number,
  ) {}

  record(row: Omit<AuditRecord, 'at'>): void {
    this.store.logAudit({ ...row, at: new Date() });
  }

  async list(q: AuditQuery): Promise<{ rows: AuditRow[]; nextBefore: number | null }> {
    await this.store.flush();
    let query = this.db.selectFrom('audit_log').selectAll();
    if (q.actor) query = query.where('actor', '=', q.actor);
    if (q.action) query = query.where('action', '=', q.action);
    if (q.outcome) query = query.where('outcome', '=', q.outcome);
    if (q.since) query = query.where('at', '>=', toDbTime(this.dialect, q.since));
    if (q.until) query = query.where('at', '<', toDbTime(this.dialect, q.until));
    if (q.before !== undefined) query = query.where('id', '<', q.before);
    const rows = await query
      .orderBy('id', 'desc')
      .limit(q.limit + 1)
      .execute();
    const page = rows.slice(0, q.limit).map((r) => ({
      id: Number(r.id),
      at: fromDbTime(r.at).toISOString(),
      actor: r.actor,
      action: r.action,
      target: r.target,
      outcome: r.outcome,
      requestId: r.request_id,
      ip: r.ip,
      details: r.details ? JSON.parse(r.details) : null,
    }));
    return { rows: page, nextBefore: rows.length > q.limit ? page[page.length - 1]!.id : null };
  }

  /** Deletes rows older than the retention period. */
  async purge(now = new Date()): Promise<number> {
    await this.store.flush();
    const cutoff = toDbTime(this.dialect, new Date(now.getTime() - this.retentionDays * 86_400_000));
    const result = await this.db.deleteFrom('audit_log').where('at', '<', cutoff).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Erasure: the user's rows keep what happened but no longer say who (nor from where). */
  async anonymise(userId: string, keyIds: string[]): Promise<void> {
    await this.store.flush();
    const actors = [`user:${userId}`, ...keyIds.map((k) => `key:${k}`)];
    await this.db.updateTable('audit_log').set({ actor: 'erased', ip: null }).where('actor', 'in', actors).execute();
    await this.db
      .updateTable('audit_log')
      .set({ target: null })
      .where((eb) => eb.or([eb('target', '=', userId), eb('target', 'in', keyIds.length ? keyIds : [''])]))
      .execute();
  }

  schedulePurge(intervalMs: number, onError: (err: unknown) => void, extra?: () => Promise<unknown>): void {
    this.timer = setInterval(() => {
      this.purge()
        .then(() => extra?.())
        .catch(onError);
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
