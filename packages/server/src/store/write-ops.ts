import { CompiledQuery, type Insertable, type Kysely, type QueryResult } from 'kysely';
import type { AuditLogTable, ComparisonResultsTable, ComparisonsTable, Database, DbTime, Dialect, UsageLogTable } from './database.js';
import { storedText } from './text.js';
import { toDbTime } from './time.js';
import type { AuditRecord, CheckpointRecord, ComparisonEnd, ComparisonStart, ConversationMessage, ModelResultRecord, UsageRecord } from './types.js';

/**
 * A queued write, already turned into column values when it is queued: the caller may reuse
 * or mutate its objects afterwards, and anything that could make a batch fail for good
 * (fractional integers, NUL bytes on PostgreSQL) is cleaned here rather than retried forever.
 * Text is normalised the same way on both dialects (see storedText), so both store the same.
 */
export type WriteOp =
  | { kind: 'comparison.start'; row: Insertable<ComparisonsTable> }
  | {
      kind: 'comparison.end';
      id: string;
      status: string;
      finishedAt: DbTime;
      processingTimeMs: number;
      /** Undefined: the results were written by their own `result` ops. */
      results: Insertable<ComparisonResultsTable>[] | undefined;
    }
  | {
      kind: 'messages';
      conversationId: string;
      createdAt: DbTime;
      messages: { comparison_id: string; role: string; model_id: string | null; content: string }[];
    }
  | { kind: 'usage'; row: Insertable<UsageLogTable> }
  /**
   * One model's result (final, or a checkpoint of a running model), replacing any earlier one.
   * Its row is built when first read (as its batch is written): one replaced while queued, by a
   * newer checkpoint or by the model's result, never flattens and scans its text.
   */
  | { kind: 'result'; readonly row: Insertable<ComparisonResultsTable>; textLength: number }
  | { kind: 'audit'; row: Insertable<AuditLogTable> };

/** Rows an op writes (what pendingWrites() counts and batches are cut by). */
export function rowsOf(op: WriteOp): number {
  switch (op.kind) {
    case 'comparison.start':
      return 1;
    case 'comparison.end':
      return 1 + (op.results?.length ?? 0);
    case 'messages':
      return op.messages.length;
    case 'usage':
      return 1;
    case 'result':
      return 1;
    case 'audit':
      return 1;
  }
}

/** Rough bytes an op holds while queued: its text, plus a fixed cost per row. */
export function bytesOf(op: WriteOp): number {
  const perRow = 256;
  switch (op.kind) {
    case 'comparison.start':
      return perRow + 2 * op.row.prompt.length;
    case 'comparison.end':
      return perRow + (op.results ?? []).reduce((n, r) => n + perRow + 2 * r.text.length, 0);
    case 'messages':
      return op.messages.reduce((n, m) => n + perRow + 2 * m.content.length, 0);
    case 'usage':
      return perRow;
    case 'result':
      return perRow + 2 * op.textLength;
    case 'audit':
      return perRow;
  }
}

export class WriteOps {
  constructor(private readonly dialect: Dialect) {}

  comparisonStart(start: ComparisonStart): WriteOp {
    return {
      kind: 'comparison.start',
      row: {
        id: start.id,
        conversation_id: start.conversationId,
        kind: start.kind,
        tier: start.tier,
        prompt: this.text(start.prompt),
        models: JSON.stringify(start.models),
        status: 'running',
        created_at: toDbTime(this.dialect, start.createdAt),
        finished_at: null,
        processing_time_ms: null,
        owner: start.owner ?? null,
      },
    };
  }

  comparisonEnd(id: string, end: ComparisonEnd): WriteOp {
    return {
      kind: 'comparison.end',
      id,
      status: end.status,
      finishedAt: toDbTime(this.dialect, end.finishedAt),
      processingTimeMs: int(end.processingTimeMs) ?? 0,
      // Position is the index in `results`, which callers give in the order of `models`.
      results: end.results?.map((r, position) => this.resultRow(id, position, r)),
    };
  }

  /** A model's result at `position` (its index in the comparison's models); status `running` for a checkpoint. */
  result(comparisonId: string, position: number, r: ModelResultRecord | CheckpointRecord): WriteOp {
    const record = { ...r }; // the caller may reuse its object; its strings cannot change
    const ops = this; // the getter's own `this` is the op
    let row: Insertable<ComparisonResultsTable> | undefined;
    return {
      kind: 'result',
      textLength: record.text.length,
      get row() {
        return (row ??= ops.resultRow(comparisonId, position, record));
      },
    };
  }

  private resultRow(comparisonId: string, position: number, r: ModelResultRecord | CheckpointRecord): Insertable<ComparisonResultsTable> {
    return {
      comparison_id: comparisonId,
      model_id: r.model,
      position,
      status: r.status,
      text: this.text(r.text),
      error_code: this.optionalText(r.errorCode),
      error_message: this.optionalText(r.errorMessage),
      finish_reason: this.optionalText(r.finishReason),
      input_tokens: int(r.inputTokens),
      output_tokens: int(r.outputTokens),
      ttft_ms: int(r.ttftMs),
      duration_ms: int(r.durationMs),
      tokens_per_second: real(r.tokensPerSecond),
    };
  }

  /** Messages carry no time of their own; they are stamped when queued. */
  messages(conversationId: string, messages: ConversationMessage[], now: Date): WriteOp {
    return {
      kind: 'messages',
      conversationId,
      createdAt: toDbTime(this.dialect, now),
      messages: messages.map((m) => ({
        comparison_id: m.comparisonId,
        role: m.role,
        model_id: m.modelId,
        content: this.text(m.content),
      })),
    };
  }

  usage(row: UsageRecord): WriteOp {
    return {
      kind: 'usage',
      row: {
        comparison_id: row.comparisonId,
        kind: row.kind,
        input_length: int(row.inputLength) ?? 0,
        models_requested: int(row.modelsRequested) ?? 0,
        models_successful: int(row.modelsSuccessful) ?? 0,
        models_failed: int(row.modelsFailed) ?? 0,
        // Sorted here too, so one model set always groups as one line in the monitoring query.
        models_used: [...row.modelsUsed].sort().join(','),
        model_tokens: JSON.stringify(row.modelTokens),
        processing_time_ms: int(row.processingTimeMs) ?? 0,
        created_at: toDbTime(this.dialect, row.createdAt),
        owner: row.owner ?? null,
        key_id: row.keyId ?? null,
        input_tokens: Object.values(row.modelTokens).reduce((n, t) => n + (int(t.input) ?? 0), 0),
        output_tokens: Object.values(row.modelTokens).reduce((n, t) => n + (int(t.output) ?? 0), 0),
        cost_usd: real(row.costUsd) ?? 0,
      },
    };
  }

  audit(row: AuditRecord): WriteOp {
    return {
      kind: 'audit',
      row: {
        at: toDbTime(this.dialect, row.at),
        actor: this.text(row.actor),
        action: row.action,
        target: row.target == null ? null : this.text(row.target),
        outcome: row.outcome,
        request_id: row.requestId ?? null,
        ip: row.ip ?? null,
        details: row.details ? this.text(JSON.stringify(row.details)) : null,
      },
    };
  }

  private text(value: string): string {
    return storedText(value);
  }

  private optionalText(value: string | undefined): string | null {
    return value === undefined ? null : this.text(value);
  }
}

/** The statements of a batch, in order; each yield is one query and receives its result. */
export type OpQueries = Generator<CompiledQuery, void, QueryResult<unknown>>;

/**
 * A batch's statements, built one at a time because a few depend on an earlier result. The
 * caller runs them inside one transaction: awaited through Kysely (PostgreSQL), or
 * synchronously on the SQLite handle (`SqliteApplier`). Runs of inserts into one table share statements.
 */
export function* opsQueries(db: Kysely<Database>, ops: WriteOp[]): OpQueries {
  for (let i = 0; i < ops.length; ) {
    const op = ops[i]!;
    if (op.kind === 'usage' || op.kind === 'comparison.start' || op.kind === 'audit') {
      let j = i;
      while (j < ops.length && ops[j]!.kind === op.kind) j += 1;
      const run = ops.slice(i, j);
      if (op.kind === 'audit') {
        yield* insertChunked(
          run.map((o) => (o as Extract<WriteOp, { kind: 'audit' }>).row),
          (rows) => cachedInsert(db, 'audit', rows, () => db.insertInto('audit_log').values(rows).compile()),
        );
      } else if (op.kind === 'usage') {
        yield* insertChunked(
          run.map((o) => (o as Extract<WriteOp, { kind: 'usage' }>).row),
          (rows) => cachedInsert(db, 'usage', rows, () => db.insertInto('usage_log').values(rows).compile()),
        );
      } else {
        // Idempotent, so a start queued twice cannot wedge the queue on a primary key.
        yield* insertChunked(
          run.map((o) => (o as Extract<WriteOp, { kind: 'comparison.start' }>).row),
          (rows) =>
            cachedInsert(db, 'comparison.start', rows, () =>
              db
                .insertInto('comparisons')
                .values(rows)
                .onConflict((oc) => oc.column('id').doNothing())
                .compile(),
            ),
        );
      }
      i = j;
      continue;
    }
    if (op.kind === 'comparison.end') yield* endQueries(db, op);
    else if (op.kind === 'messages') yield* messagesQueries(db, op);
    else if (op.kind === 'result') yield resultQuery(db, op);
    i += 1;
  }
}

/** Runs a batch through Kysely in one transaction (any dialect). */
export async function applyOps(db: Kysely<Database>, ops: WriteOp[]): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const steps = opsQueries(db, ops);
    for (let step = steps.next(); !step.done; ) step = steps.next(await trx.executeQuery(step.value));
  });
}

function* endQueries(db: Kysely<Database>, op: Extract<WriteOp, { kind: 'comparison.end' }>): OpQueries {
  const updated = yield cached(db, 'comparison.end', [op.status, op.finishedAt, op.processingTimeMs, op.id], () =>
    db
      .updateTable('comparisons')
      .set({ status: op.status, finished_at: op.finishedAt, processing_time_ms: op.processingTimeMs })
      .where('id', '=', op.id)
      .compile(),
  );
  // Deleted meanwhile (or never started): don't leave orphan results behind, its models' own included.
  const gone = Number(updated.numAffectedRows ?? 0) === 0;
  if (gone || op.results) yield cached(db, 'results.delete', [op.id], () => db.deleteFrom('comparison_results').where('comparison_id', '=', op.id).compile());
  if (!gone && op.results)
    yield* insertChunked(op.results, (rows) => cachedInsert(db, 'results', rows, () => db.insertInto('comparison_results').values(rows).compile()));
}

/** comparison_results' columns, in the order of the upsert's parameters. */
const RESULT_COLUMNS = [
  'comparison_id',
  'model_id',
  'position',
  'status',
  'text',
  'error_code',
  'error_message',
  'finish_reason',
  'input_tokens',
  'output_tokens',
  'ttft_ms',
  'duration_ms',
  'tokens_per_second',
] as const satisfies readonly (keyof ComparisonResultsTable)[];

/** A model's row, replacing its earlier one (a checkpoint): the upsert every checkpoint and result runs. */
function resultQuery(db: Kysely<Database>, op: Extract<WriteOp, { kind: 'result' }>): CompiledQuery {
  const row = op.row;
  const values = RESULT_COLUMNS.map((c) => row[c] ?? null);
  return cached(db, 'result.upsert', values, () =>
    db
      .insertInto('comparison_results')
      .values(Object.fromEntries(RESULT_COLUMNS.map((c, i) => [c, values[i]])) as unknown as Insertable<ComparisonResultsTable>)
      .onConflict((oc) =>
        oc.columns(['comparison_id', 'position']).doUpdateSet((eb) => {
          const set: Record<string, unknown> = {};
          for (const c of RESULT_COLUMNS) if (c !== 'comparison_id' && c !== 'position') set[c] = eb.ref(`excluded.${c}`);
          return set;
        }),
      )
      .compile(),
  );
}

function* messagesQueries(db: Kysely<Database>, op: Extract<WriteOp, { kind: 'messages' }>): OpQueries {
  if (op.messages.length === 0) return;
  yield cached(db, 'conversation', [op.conversationId, op.createdAt], () =>
    db
      .insertInto('conversations')
      .values({ id: op.conversationId, created_at: op.createdAt })
      .onConflict((oc) => oc.column('id').doNothing())
      .compile(),
  );
  const top = yield cached(db, 'messages.top', [op.conversationId], () =>
    db
      .selectFrom('messages')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .where('conversation_id', '=', op.conversationId)
      .compile(),
  );
  const base = Number((top.rows[0] as { seq?: number | string | null } | undefined)?.seq ?? 0);
  const rows = op.messages.map((m, i) => ({ ...m, conversation_id: op.conversationId, seq: base + i + 1, created_at: op.createdAt }));
  yield* insertChunked(rows, (chunk) => cachedInsert(db, 'messages', chunk, () => db.insertInto('messages').values(chunk).compile()));
}

/**
 * SQL texts by statement shape, per database: Kysely builds and compiles a statement in ~20–100 µs,
 * and a commit somebody waits for (issue 11) carries a few of them; each shape is compiled once.
 * null: the shape's parameters did not come out as expected, so it is always compiled.
 */
const sqlByShape = new WeakMap<Kysely<Database>, Map<string, string | null>>();

/**
 * `build()`'s statement, run with `parameters` under the SQL its `shape` compiled to the first
 * time — when the compiled parameters were exactly `parameters` (anything inlined or reordered
 * and the shape is never cached).
 */
function cached(db: Kysely<Database>, shape: string, parameters: readonly unknown[], build: () => CompiledQuery): CompiledQuery {
  // Kysely leaves an undefined value's column out: that row is another shape.
  if (parameters.includes(undefined)) return build();
  let byShape = sqlByShape.get(db);
  if (!byShape) sqlByShape.set(db, (byShape = new Map()));
  const sql = byShape.get(shape);
  if (sql) return CompiledQuery.raw(sql, parameters as unknown[]);
  const compiled = build();
  if (sql === undefined) {
    const same = compiled.parameters.length === parameters.length && compiled.parameters.every((v, i) => v === parameters[i]);
    byShape.set(shape, same ? compiled.sql : null);
  }
  return compiled;
}

/** A multi-row insert through `cached`: its shape is the table, the columns and the row count. */
function cachedInsert<R extends object>(db: Kysely<Database>, table: string, rows: R[], build: () => CompiledQuery): CompiledQuery {
  const columns = Object.keys(rows[0]!);
  const parameters = rows.flatMap((row) => columns.map((c) => (row as Record<string, unknown>)[c]));
  return cached(db, `${table}(${columns.join(',')})×${rows.length}`, parameters, build);
}

/** Keeps multi-row inserts under both engines' bound-parameter limits. */
const CHUNK_ROWS = 500;

function* insertChunked<R>(rows: R[], insert: (chunk: R[]) => CompiledQuery): OpQueries {
  for (let i = 0; i < rows.length; i += CHUNK_ROWS) yield insert(rows.slice(i, i + CHUNK_ROWS));
}

function int(value: number | undefined): number | null {
  return value === undefined || !Number.isFinite(value) ? null : Math.round(value);
}

function real(value: number | undefined): number | null {
  return value === undefined || !Number.isFinite(value) ? null : value;
}
