import { sql, type Kysely, type Selectable } from 'kysely';
import type { ComparisonResultsTable, ComparisonsTable, Database, Dialect, SqliteHandle } from './database.js';
import { runMonitoring } from './monitoring-queries.js';
import { fromDbTime, toDbTime } from './time.js';
import type {
  AuditRecord,
  CheckpointRecord,
  ComparisonEnd,
  ComparisonRecord,
  ComparisonStart,
  ComparisonStatus,
  ConversationMessage,
  ModelOutcome,
  ModelResultRecord,
  MonitoringFigures,
  Store,
  UsageRecord,
} from './types.js';
import type { TierName } from '../config/schema.js';
import { KyselyOpsStore } from './ops-store.js';
import { SqliteApplier } from './sqlite-applier.js';
import { applyOps, bytesOf, rowsOf, WriteOps, type WriteOp } from './write-ops.js';
import { WriteQueue, type BatchInfo, type StoreLogger } from './write-queue.js';

export interface KyselyStoreOptions {
  flushIntervalMs: number;
  batchSize: number;
  logger?: StoreLogger | undefined;
  onBatch?: ((info: BatchInfo) => void) | undefined;
  /** How long close() keeps retrying a failing database before giving up on queued rows. */
  closeTimeoutMs?: number | undefined;
  /** Bytes queued writes may hold (a database outage) before hasWriteRoom() says no. */
  maxPendingBytes?: number | undefined;
  /** Group commit window once someone waits for a commit. */
  commitDelayMs?: number | undefined;
  /** Called once the database is closed (releases the data directory's lock). */
  onClosed?: (() => void) | undefined;
  minRetryMs?: number | undefined;
  maxRetryMs?: number | undefined;
  /** SQLite: the better-sqlite3 handle under `db`; batches are then applied on it synchronously. */
  sqlite?: SqliteHandle | undefined;
}

/** The Store over Kysely: writes go through the ordered batch queue, reads flush it first. */
export class KyselyStore implements Store {
  private readonly queue: WriteQueue<WriteOp>;
  private readonly ops: WriteOps;
  private closing: Promise<void> | undefined;
  readonly opsData: KyselyOpsStore;

  constructor(
    /** The one Kysely instance: identity/ reads and writes accounts and counters on it directly (they must not wait in the queue), jobs/ runs its transactions on it. */
    readonly db: Kysely<Database>,
    readonly dialect: Dialect,
    private readonly opts: KyselyStoreOptions,
  ) {
    this.ops = new WriteOps(dialect);
    this.opsData = new KyselyOpsStore(db, dialect);
    const applier = opts.sqlite && new SqliteApplier(opts.sqlite, db);
    this.queue = new WriteQueue<WriteOp>({
      apply: (batch) => applyOps(db, batch),
      applySync: applier && ((batch) => applier.tryApply(batch)),
      rowsOf,
      bytesOf,
      commitDelayMs: opts.commitDelayMs,
      flushIntervalMs: opts.flushIntervalMs,
      batchSize: opts.batchSize,
      logger: opts.logger,
      onBatch: opts.onBatch,
      minRetryMs: opts.minRetryMs,
      maxRetryMs: opts.maxRetryMs,
    });
  }

  /** SQLite: the better-sqlite3 handle under `db` (jobs/ opens a second connection to its file). */
  get sqlite(): SqliteHandle | undefined {
    return this.opts.sqlite;
  }

  saveComparisonStart(start: ComparisonStart): void {
    this.queue.push(this.ops.comparisonStart(start));
  }

  saveComparisonEnd(id: string, end: ComparisonEnd): void {
    this.queue.push(this.ops.comparisonEnd(id, end));
  }

  appendMessages(conversationId: string, messages: ConversationMessage[]): void {
    this.queue.assertOpen();
    if (messages.length === 0) return;
    this.queue.push(this.ops.messages(conversationId, messages, new Date()));
  }

  logUsage(row: UsageRecord): void {
    this.queue.push(this.ops.usage(row));
  }

  saveModelResult(comparisonId: string, position: number, result: ModelResultRecord): void {
    // Replaces the model's checkpoint if that is still queued (it would be overwritten anyway).
    this.queue.push(this.ops.result(comparisonId, position, result), resultKey(comparisonId, position));
  }

  saveCheckpoint(comparisonId: string, position: number, checkpoint: CheckpointRecord): boolean {
    if (!this.hasWriteRoom()) return false;
    // A checkpoint not yet written is replaced by the newer one, not queued beside it.
    this.queue.push(this.ops.result(comparisonId, position, checkpoint), resultKey(comparisonId, position));
    return true;
  }

  committed(): Promise<void> {
    return this.queue.committed();
  }

  hasWriteRoom(): boolean {
    return this.queue.pendingBytes < (this.opts.maxPendingBytes ?? Number.POSITIVE_INFINITY);
  }

  logAudit(row: AuditRecord): void {
    this.queue.push(this.ops.audit(row));
  }

  async getComparison(id: string): Promise<ComparisonRecord | undefined> {
    await this.flush();
    const row = await this.db.selectFrom('comparisons').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    const results = await this.db.selectFrom('comparison_results').selectAll().where('comparison_id', '=', id).orderBy('position').execute();
    return toRecord(row, results);
  }

  async listComparisons(opts: { limit: number; conversationId?: string | undefined; owner?: string | null | undefined }): Promise<ComparisonRecord[]> {
    await this.flush();
    let query = this.db.selectFrom('comparisons').selectAll();
    if (opts.conversationId !== undefined) query = query.where('conversation_id', '=', opts.conversationId);
    if (opts.owner !== undefined) query = opts.owner === null ? query.where('owner', 'is', null) : query.where('owner', '=', opts.owner);
    // created_at has one-second resolution on SQLite; id breaks ties so pages are stable.
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(opts.limit).execute();
    if (rows.length === 0) return [];
    const results = await this.db
      .selectFrom('comparison_results')
      .selectAll()
      .where(
        'comparison_id',
        'in',
        rows.map((r) => r.id),
      )
      .orderBy('comparison_id')
      .orderBy('position')
      .execute();
    const byComparison = new Map<string, Selectable<ComparisonResultsTable>[]>();
    for (const r of results) {
      const list = byComparison.get(r.comparison_id) ?? [];
      list.push(r);
      byComparison.set(r.comparison_id, list);
    }
    return rows.map((row) => toRecord(row, byComparison.get(row.id) ?? []));
  }

  async deleteComparison(id: string): Promise<boolean> {
    await this.flush();
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('comparison_results').where('comparison_id', '=', id).execute();
      const deleted = await trx.deleteFrom('comparisons').where('id', '=', id).executeTakeFirst();
      return Number(deleted.numDeletedRows) > 0;
    });
  }

  async getConversation(id: string): Promise<ConversationMessage[] | undefined> {
    await this.flush();
    const rows = await this.db
      .selectFrom('messages')
      .select(['role', 'content', 'model_id', 'comparison_id'])
      .where('conversation_id', '=', id)
      .orderBy('seq')
      .execute();
    if (rows.length === 0) return undefined;
    return rows.map((r) => ({
      role: r.role as ConversationMessage['role'],
      content: r.content,
      modelId: r.model_id,
      comparisonId: r.comparison_id,
    }));
  }

  async conversationOwner(id: string): Promise<string | null | undefined> {
    await this.flush();
    const row = await this.db.selectFrom('comparisons').select('owner').where('conversation_id', '=', id).limit(1).executeTakeFirst();
    return row ? row.owner : undefined;
  }

  async markInterrupted(opts: { ids?: string[]; except?: string[]; createdBefore?: Date } = {}): Promise<number> {
    await this.flush();
    if (opts.ids?.length === 0) return 0;
    return this.db.transaction().execute(async (trx) => {
      let chosen = trx.selectFrom('comparisons').select('id').where('status', '=', 'running');
      if (opts.ids) chosen = chosen.where('id', 'in', opts.ids);
      if (opts.except?.length) chosen = chosen.where('id', 'not in', opts.except);
      if (opts.createdBefore) chosen = chosen.where('created_at', '<', toDbTime(this.dialect, opts.createdBefore));
      const ids = (await chosen.execute()).map((r) => r.id);
      if (ids.length === 0) return 0;
      // Only a running comparison's rows can be checkpoints: its end rewrites all its results.
      await trx.updateTable('comparison_results').set({ status: 'interrupted' }).where('status', '=', 'running').where('comparison_id', 'in', ids).execute();
      const updated = await trx
        .updateTable('comparisons')
        .set({ status: 'interrupted' })
        .where('status', '=', 'running')
        .where('id', 'in', ids)
        .executeTakeFirst();
      return Number(updated.numUpdatedRows);
    });
  }

  async monitoring(): Promise<MonitoringFigures> {
    await this.flush();
    return runMonitoring(this.db, this.dialect);
  }

  pendingWrites(): number {
    return this.queue.pendingRows;
  }

  flush(): Promise<void> {
    return this.queue.flush();
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.queue.close(this.opts.closeTimeoutMs ?? 10_000);
      } finally {
        await this.opts.sqlite?.stopCheckpoints();
        await this.db.destroy();
        this.opts.onClosed?.();
      }
    })();
    return this.closing;
  }
}

function toRecord(row: Selectable<ComparisonsTable>, results: Selectable<ComparisonResultsTable>[]): ComparisonRecord {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    kind: row.kind as ComparisonRecord['kind'],
    tier: row.tier as TierName,
    prompt: row.prompt,
    models: JSON.parse(row.models) as string[],
    createdAt: fromDbTime(row.created_at),
    status: row.status as ComparisonStatus,
    finishedAt: row.finished_at === null ? undefined : fromDbTime(row.finished_at),
    processingTimeMs: row.processing_time_ms ?? undefined,
    owner: row.owner ?? undefined,
    // A running comparison's checkpoints are not results yet.
    results: results.filter((r) => r.status !== 'running').map(toResult),
  };
}

function toResult(r: Selectable<ComparisonResultsTable>): ModelResultRecord {
  return {
    model: r.model_id,
    status: r.status as ModelOutcome,
    text: r.text,
    errorCode: r.error_code ?? undefined,
    errorMessage: r.error_message ?? undefined,
    finishReason: r.finish_reason ?? undefined,
    inputTokens: r.input_tokens ?? undefined,
    outputTokens: r.output_tokens ?? undefined,
    ttftMs: r.ttft_ms ?? undefined,
    durationMs: r.duration_ms ?? undefined,
    tokensPerSecond: r.tokens_per_second ?? undefined,
  };
}

/** Queue key of a model's row: a newer checkpoint, or the result, replaces one still queued. */
const resultKey = (comparisonId: string, position: number) => `result:${comparisonId}:${position}`;
