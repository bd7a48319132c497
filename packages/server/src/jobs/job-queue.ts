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
 * database (SQLite or PostgreSQL); with Redis, `BullJobQueue` dispatches them through BullMQ.
 */
export interface JobQueue {
  /** Leases up to `limit` queued, due items of one job and model to `worker` for `leaseMs`, oldest first. */
  claim(jobId: string, model: string, worker: string, limit: number, leaseMs: number): Promise<ClaimedItem[]>;
  /** Puts back in the queue the items of other workers whose lease ran out (a dead or stalled node's). */
  requeueExpired(worker: string): Promise<number>;
  /** Records outcomes in one transaction; only rows still leased to `worker` change. Returns the ids written. */
  complete(worker: string, outcomes: ItemOutcome[]): Promise<Set<string>>;
  /** Extends every lease `worker` holds. */
  renew(worker: string, leaseMs: number): Promise<void>;
  /** Hands back items `worker` claimed but never started (their attempt is not counted). */
  release(worker: string, ids: string[]): Promise<void>;
  /** Hands back every item a dead process held (the embedded, single-node case after a crash). */
  releaseAll(): Promise<number>;
  counts(jobId: string): Promise<StateCounts>;
  /** Lets go of connections (BullMQ's); the database queue has none of its own. */
  close?(): Promise<void>;
}

const COMPLETE_CHUNK = 500;
/** The columns an outcome sets, in VALUES order after the id, with their PostgreSQL types. */
const COMPLETE_COLUMNS: [string, string][] = [
  ['status', 'text'], ['not_before', 'double precision'], ['text', 'text'], ['error_code', 'text'], ['error_message', 'text'],
  ['retryable', 'integer'], ['suggested_action', 'text'], ['finish_reason', 'text'], ['input_tokens', 'integer'], ['output_tokens', 'integer'],
  ['ttft_ms', 'integer'], ['duration_ms', 'integer'], ['tokens_per_second', 'double precision'], ['finished_at', 'double precision'],
];

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
          .where('job_id', '=', jobId).where('model', '=', model).where('status', '=', 'queued').where('not_before', '<=', now)
          .orderBy('id').limit(limit);
        // Another node claiming at the same moment skips these rows instead of waiting for them.
        return this.dialect === 'postgres' ? pick.forUpdate().skipLocked() : pick;
      })
      .returning(['id', 'prompt_index', 'model', 'attempts'])
      .execute();
    return rows.map((r) => ({ id: String(r.id), jobId, promptIndex: r.prompt_index, model: r.model, attempts: r.attempts }));
  }

  async requeueExpired(worker: string): Promise<number> {
    const result = await this.db.updateTable('job_items').set({ status: 'queued', worker: null, lease_until: null })
      // Never our own items: we are still running them.
      .where('status', '=', 'running').where('lease_until', '<', Date.now()).where('worker', '!=', worker)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /**
   * One statement per batch (`UPDATE … FROM (VALUES …)`, on both dialects): a tick's outcomes
   * are written together, atomically, and only where `worker` still holds the lease.
   */
  async complete(worker: string, outcomes: ItemOutcome[]): Promise<Set<string>> {
    const written = new Set<string>();
    const now = Date.now();
    for (let i = 0; i < outcomes.length; i += COMPLETE_CHUNK) {
      const rows = outcomes.slice(i, i + COMPLETE_CHUNK).map((o) => sql`(${sql.join([
        this.key(o.id), o.status, o.notBefore ?? 0, o.text, o.errorCode, o.errorMessage,
        o.retryable === null ? null : o.retryable ? 1 : 0, o.suggestedAction, o.finishReason, o.inputTokens, o.outputTokens,
        o.ttftMs, o.durationMs, o.tokensPerSecond, o.status === 'queued' ? null : now,
      ])})`);
      const result = await sql<{ id: number | string }>`
        update job_items set worker = null, lease_until = null,
          ${sql.join(COMPLETE_COLUMNS.map(([column, type], k) => sql`${sql.ref(column)} = ${this.value(k + 2, type)}`))}
        from (values ${sql.join(rows)}) as v
        where job_items.id = ${this.value(1, 'bigint')} and job_items.worker = ${worker} and job_items.status = 'running'
        returning job_items.id`.execute(this.db);
      for (const r of result.rows) written.add(String(r.id));
    }
    return written;
  }

  /** Column n of the VALUES list; PostgreSQL types untyped parameters as text, so it is cast there. */
  private value(n: number, type: string) {
    return sql.raw(this.dialect === 'postgres' ? `v.column${n}::${type}` : `v.column${n}`);
  }

  async renew(worker: string, leaseMs: number): Promise<void> {
    await this.db.updateTable('job_items').set({ lease_until: Date.now() + leaseMs })
      .where('worker', '=', worker).where('status', '=', 'running').execute();
  }

  async release(worker: string, ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) {
      await this.db.updateTable('job_items').set({ status: 'queued', worker: null, lease_until: null, attempts: sql<number>`attempts - 1` })
        .where('id', 'in', ids.slice(i, i + 500).map((id) => this.key(id))).where('worker', '=', worker).where('status', '=', 'running')
        .execute();
    }
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
