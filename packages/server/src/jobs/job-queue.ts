import { sql } from 'kysely';
import type { Dialect } from '../store/database.js';
import type { JobsDb } from './tables.js';
import type { ItemMetrics, ItemStatus, StateCounts } from './types.js';

/** An item a worker holds a lease on, with what it needs to make the provider call. */
export interface ClaimedItem {
  id: string;
  jobId: string;
  promptIndex: number;
  model: string;
  /** Provider calls made for it in this run, this one included. */
  attempts: number;
}

/** What happened to a claimed item: final, or back to the queue until `notBefore`. */
export interface ItemOutcome extends ItemMetrics {
  id: string;
  status: Exclude<ItemStatus, 'running'>;
  notBefore?: number;
  text: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  retryable: boolean | null;
  suggestedAction: string | null;
}

/**
 * Where job items wait and who runs them. The embedded implementation leases rows in the
 * database (SQLite or PostgreSQL); a cluster can put BullMQ or pg-boss behind the same calls.
 */
export interface JobQueue {
  /** Leases up to `limit` runnable items of one job and model to `worker` for `leaseMs`. */
  claim(jobId: string, model: string, worker: string, limit: number, leaseMs: number): Promise<ClaimedItem[]>;
  /** Records outcomes in one transaction; only rows still leased to `worker` change. Returns the ids written. */
  complete(worker: string, outcomes: ItemOutcome[]): Promise<Set<string>>;
  /** Extends every lease `worker` holds. */
  renew(worker: string, leaseMs: number): Promise<void>;
  /** Hands back every item a dead process held (the embedded, single-node case after a crash). */
  releaseAll(): Promise<number>;
  counts(jobId: string): Promise<StateCounts>;
}

export const emptyCounts = (): StateCounts => ({ queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 });

/** Leases in the database: `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING`, on both dialects. */
export class DbJobQueue implements JobQueue {
  constructor(private readonly db: JobsDb, private readonly dialect: Dialect) {}

  async claim(jobId: string, model: string, worker: string, limit: number, leaseMs: number): Promise<ClaimedItem[]> {
    const now = Date.now();
    const rows = await this.db.updateTable('job_items')
      .set({ status: 'running', worker, lease_until: now + leaseMs, attempts: sql<number>`attempts + 1`, started_at: now })
      .where('id', 'in', (eb) => {
        const pick = eb.selectFrom('job_items').select('id')
          .where('job_id', '=', jobId).where('model', '=', model)
          .where((w) => w.or([
            w.and([w('status', '=', 'queued'), w('not_before', '<=', now)]),
            // An expired lease of another (dead or stalled) worker; never our own items, which we still run.
            w.and([w('status', '=', 'running'), w('lease_until', '<', now), w('worker', '!=', worker)]),
          ]))
          .orderBy('id').limit(limit);
        // Another node claiming at the same moment skips these rows instead of waiting for them.
        return this.dialect === 'postgres' ? pick.forUpdate().skipLocked() : pick;
      })
      .returning(['id', 'prompt_index', 'model', 'attempts'])
      .execute();
    return rows.map((r) => ({ id: String(r.id), jobId, promptIndex: r.prompt_index, model: r.model, attempts: r.attempts }));
  }

  async complete(worker: string, outcomes: ItemOutcome[]): Promise<Set<string>> {
    if (outcomes.length === 0) return new Set();
    const now = Date.now();
    return this.db.transaction().execute(async (trx) => {
      const written = new Set<string>();
      for (const o of outcomes) {
        const requeue = o.status === 'queued';
        const result = await trx.updateTable('job_items')
          .set({
            status: o.status, worker: null, lease_until: null, not_before: o.notBefore ?? 0,
            text: o.text, error_code: o.errorCode, error_message: o.errorMessage,
            retryable: o.retryable === null ? null : o.retryable ? 1 : 0, suggested_action: o.suggestedAction,
            finish_reason: o.finishReason, input_tokens: o.inputTokens, output_tokens: o.outputTokens,
            ttft_ms: o.ttftMs, duration_ms: o.durationMs, tokens_per_second: o.tokensPerSecond,
            finished_at: requeue ? null : now,
          })
          .where('id', '=', this.key(o.id)).where('worker', '=', worker).where('status', '=', 'running')
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) > 0) written.add(o.id);
      }
      return written;
    });
  }

  async renew(worker: string, leaseMs: number): Promise<void> {
    await this.db.updateTable('job_items').set({ lease_until: Date.now() + leaseMs })
      .where('worker', '=', worker).where('status', '=', 'running').execute();
  }

  async releaseAll(): Promise<number> {
    const result = await this.db.updateTable('job_items').set({ status: 'queued', worker: null, lease_until: null, not_before: 0 })
      .where('status', '=', 'running').executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async counts(jobId: string): Promise<StateCounts> {
    const rows = await this.db.selectFrom('job_items').select(['status', (eb) => eb.fn.countAll<number | string>().as('n')])
      .where('job_id', '=', jobId).groupBy('status').execute();
    const counts = emptyCounts();
    for (const r of rows) counts[r.status as ItemStatus] = Number(r.n);
    return counts;
  }

  /** Item ids are integers in the database; bigserial ones travel as strings. */
  private key(id: string): number | string {
    return this.dialect === 'postgres' ? id : Number(id);
  }
}
