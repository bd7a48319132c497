import { CompiledQuery, sql } from 'kysely';
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
  /** Its prompt, when the claim read it too (SqliteJobQueue); else the runner looks it up. */
  prompt?: { prompt: string; system: string | null } | undefined;
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

/** Rows per statement at most (a power of two; PostgreSQL allows 65,535 parameters, 256 × 16 is far below). */
const COMPLETE_CHUNK = 256;
/** A VALUES row that matches no item (ids start at 1): pads a statement to its power-of-two size. */
const PADDING_ROW = [0, 'queued', 0, null, null, null, null, null, null, null, null, null, null, null, null];
/** The columns an outcome sets, in VALUES order after the id, with their PostgreSQL types. */
const COMPLETE_COLUMNS: [string, string][] = [
  ['status', 'text'],
  ['not_before', 'double precision'],
  ['text', 'text'],
  ['error_code', 'text'],
  ['error_message', 'text'],
  ['retryable', 'integer'],
  ['suggested_action', 'text'],
  ['finish_reason', 'text'],
  ['input_tokens', 'integer'],
  ['output_tokens', 'integer'],
  ['ttft_ms', 'integer'],
  ['duration_ms', 'integer'],
  ['tokens_per_second', 'double precision'],
  ['finished_at', 'double precision'],
];

/** The columns complete() sets, in the order outcomeRows() gives their values. */
export const OUTCOME_COLUMNS = COMPLETE_COLUMNS.map(([column]) => column);

/** Appends each outcome's values to `out`: its id (`key`), first or last, and the OUTCOME_COLUMNS. */
export function outcomeRows(outcomes: ItemOutcome[], now: number, key: (id: string) => number | string, out: unknown[], idLast = false): void {
  for (const o of outcomes) {
    if (!idLast) out.push(key(o.id));
    out.push(
      o.status,
      o.notBefore ?? 0,
      o.text,
      o.errorCode,
      o.errorMessage,
      o.retryable === null ? null : o.retryable ? 1 : 0,
      o.suggestedAction,
      o.finishReason,
      o.inputTokens,
      o.outputTokens,
      o.ttftMs,
      o.durationMs,
      o.tokensPerSecond,
      o.status === 'queued' ? null : now,
    );
    if (idLast) out.push(key(o.id));
  }
}

/**
 * The states the partial indexes (migration 0006) hold, written into the SQL as literals: with a
 * bound value SQLite can use such an index only by re-planning the statement on every run.
 */
const QUEUED = sql.lit('queued');
const RUNNING = sql.lit('running');

export const emptyCounts = (): StateCounts => ({ queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 });

/** Leases in the database: `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING`, on both dialects. */
export class DbJobQueue implements JobQueue {
  private readonly completeSqls = new Map<number, string>();

  constructor(
    private readonly db: JobsDb,
    private readonly dialect: Dialect,
  ) {}

  async claim(jobId: string, model: string, worker: string, limit: number, leaseMs: number): Promise<ClaimedItem[]> {
    const now = Date.now();
    const rows = await this.db
      .updateTable('job_items')
      .set({ status: 'running', worker, lease_until: now + leaseMs, attempts: sql<number>`attempts + 1`, started_at: now })
      .where('id', 'in', (eb) => {
        const pick = eb
          .selectFrom('job_items')
          .select('id')
          .where('job_id', '=', jobId)
          .where('model', '=', model)
          .where('status', '=', QUEUED)
          .where('not_before', '<=', now)
          .orderBy('id')
          // Literal: SQLite plans a bound LIMIT anew on every run (callers ask for a few sizes).
          .limit(sql.lit(limit));
        // Another node claiming at the same moment skips these rows instead of waiting for them.
        return this.dialect === 'postgres' ? pick.forUpdate().skipLocked() : pick;
      })
      .returning(['id', 'prompt_index', 'model', 'attempts'])
      .execute();
    return rows.map((r) => ({ id: String(r.id), jobId, promptIndex: r.prompt_index, model: r.model, attempts: r.attempts }));
  }

  async requeueExpired(worker: string): Promise<number> {
    const result = await this.db
      .updateTable('job_items')
      .set({ status: 'queued', worker: null, lease_until: null })
      // Never our own items: we are still running them.
      .where('status', '=', RUNNING)
      .where('lease_until', '<', Date.now())
      .where('worker', '!=', worker)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /**
   * One `UPDATE … FROM (VALUES …)` per 256 outcomes (on both dialects; several in one
   * transaction): a tick's outcomes are written together, atomically, and only where `worker`
   * still holds the lease. The VALUES list is padded to a power of two with rows of id 0 (no
   * item has it), so nine SQL texts serve every batch size: each is built once, and SQLite's
   * prepared statements are reused (store/database.ts) instead of parsed per batch.
   */
  async complete(worker: string, outcomes: ItemOutcome[]): Promise<Set<string>> {
    const written = new Set<string>();
    if (outcomes.length === 0) return written;
    const now = Date.now();
    const write = async (db: JobsDb) => {
      for (let i = 0; i < outcomes.length; i += COMPLETE_CHUNK) {
        const chunk = outcomes.slice(i, i + COMPLETE_CHUNK);
        const size = 2 ** Math.ceil(Math.log2(chunk.length));
        const parameters: unknown[] = [];
        outcomeRows(chunk, now, (id) => this.key(id), parameters);
        for (let pad = chunk.length; pad < size; pad++) parameters.push(...PADDING_ROW);
        parameters.push(worker);
        const result = await db.executeQuery<{ id: number | string }>(CompiledQuery.raw(this.completeSql(size), parameters));
        for (const r of result.rows) written.add(String(r.id));
      }
    };
    if (outcomes.length <= COMPLETE_CHUNK) await write(this.db);
    else await this.db.transaction().execute(write);
    return written;
  }

  /** The SQL of a complete() statement of n rows (then the worker), per dialect; built once per size. */
  private completeSql(n: number): string {
    let text = this.completeSqls.get(n);
    if (text) return text;
    const pg = this.dialect === 'postgres';
    let p = 0;
    const param = () => (pg ? `$${++p}` : '?');
    const width = COMPLETE_COLUMNS.length + 1;
    const rows = Array.from({ length: n }, () => `(${Array.from({ length: width }, param).join(', ')})`).join(', ');
    const value = (k: number, type: string) => (pg ? `v.column${k}::${type}` : `v.column${k}`);
    text = `update job_items set worker = null, lease_until = null, ${COMPLETE_COLUMNS.map(([column, type], k) => `"${column}" = ${value(k + 2, type)}`).join(', ')}
      from (values ${rows}) as v
      where job_items.id = ${value(1, 'bigint')} and job_items.worker = ${param()} and job_items.status = 'running'
      returning job_items.id`;
    this.completeSqls.set(n, text);
    return text;
  }

  async renew(worker: string, leaseMs: number): Promise<void> {
    await this.db
      .updateTable('job_items')
      .set({ lease_until: Date.now() + leaseMs })
      .where('worker', '=', worker)
      .where('status', '=', RUNNING)
      .execute();
  }

  async release(worker: string, ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) {
      await this.db
        .updateTable('job_items')
        .set({ status: 'queued', worker: null, lease_until: null, attempts: sql<number>`attempts - 1` })
        .where(
          'id',
          'in',
          ids.slice(i, i + 500).map((id) => this.key(id)),
        )
        .where('worker', '=', worker)
        .where('status', '=', RUNNING)
        .execute();
    }
  }

  async releaseAll(): Promise<number> {
    const result = await this.db
      .updateTable('job_items')
      .set({ status: 'queued', worker: null, lease_until: null, not_before: 0 })
      .where('status', '=', RUNNING)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async counts(jobId: string): Promise<StateCounts> {
    const rows = await this.db
      .selectFrom('job_items')
      .select(['status', (eb) => eb.fn.countAll<number | string>().as('n')])
      .where('job_id', '=', jobId)
      .groupBy('status')
      .execute();
    const counts = emptyCounts();
    for (const r of rows) counts[r.status as ItemStatus] = Number(r.n);
    return counts;
  }

  /** Item ids are integers in the database; bigserial ones travel as strings. */
  private key(id: string): number | string {
    return this.dialect === 'postgres' ? id : Number(id);
  }
}
