import type { Insertable, Transaction } from 'kysely';
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
      results: Insertable<ComparisonResultsTable>[];
    }
  | {
      kind: 'messages';
      conversationId: string;
      createdAt: DbTime;
      messages: { comparison_id: string; role: string; model_id: string | null; content: string }[];
    }
  | { kind: 'usage'; row: Insertable<UsageLogTable> }
  /** One model's result (final, or a checkpoint of a running model), replacing any earlier one. */
  | { kind: 'result'; row: Insertable<ComparisonResultsTable> }
  | { kind: 'audit'; row: Insertable<AuditLogTable> };

/** Rows an op writes (what pendingWrites() counts and batches are cut by). */
export function rowsOf(op: WriteOp): number {
  switch (op.kind) {
    case 'comparison.start': return 1;
    case 'comparison.end': return 1 + op.results.length;
    case 'messages': return op.messages.length;
    case 'usage': return 1;
    case 'result': return 1;
    case 'audit': return 1;
  }
}

/** Rough bytes an op holds while queued: its text, plus a fixed cost per row. */
export function bytesOf(op: WriteOp): number {
  const perRow = 256;
  switch (op.kind) {
    case 'comparison.start': return perRow + 2 * op.row.prompt.length;
    case 'comparison.end': return perRow + op.results.reduce((n, r) => n + perRow + 2 * r.text.length, 0);
    case 'messages': return op.messages.reduce((n, m) => n + perRow + 2 * m.content.length, 0);
    case 'usage': return perRow;
    case 'result': return perRow + 2 * op.row.text.length;
    case 'audit': return perRow;
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
      results: end.results.map((r, position) => this.resultRow(id, position, r)),
    };
  }

  /** A model's result at `position` (its index in the comparison's models); status `running` for a checkpoint. */
  result(comparisonId: string, position: number, r: ModelResultRecord | CheckpointRecord): WriteOp {
    return { kind: 'result', row: this.resultRow(comparisonId, position, r) };
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

/** Writes a batch inside one transaction, in order; runs of inserts into one table share statements. */
export async function applyOps(trx: Transaction<Database>, ops: WriteOp[]): Promise<void> {
  for (let i = 0; i < ops.length; ) {
    const op = ops[i]!;
    if (op.kind === 'usage' || op.kind === 'comparison.start' || op.kind === 'audit') {
      let j = i;
      while (j < ops.length && ops[j]!.kind === op.kind) j += 1;
      const run = ops.slice(i, j);
      if (op.kind === 'audit') {
        await insertChunked(run.map((o) => (o as Extract<WriteOp, { kind: 'audit' }>).row), (rows) =>
          trx.insertInto('audit_log').values(rows).execute());
      } else if (op.kind === 'usage') {
        await insertChunked(run.map((o) => (o as Extract<WriteOp, { kind: 'usage' }>).row), (rows) =>
          trx.insertInto('usage_log').values(rows).execute());
      } else {
        // Idempotent, so a start queued twice cannot wedge the queue on a primary key.
        await insertChunked(run.map((o) => (o as Extract<WriteOp, { kind: 'comparison.start' }>).row), (rows) =>
          trx.insertInto('comparisons').values(rows).onConflict((oc) => oc.column('id').doNothing()).execute());
      }
      i = j;
      continue;
    }
    if (op.kind === 'comparison.end') await applyEnd(trx, op);
    else if (op.kind === 'messages') await applyMessages(trx, op);
    else if (op.kind === 'result') await applyResult(trx, op);
    i += 1;
  }
}

async function applyEnd(trx: Transaction<Database>, op: Extract<WriteOp, { kind: 'comparison.end' }>): Promise<void> {
  const updated = await trx.updateTable('comparisons')
    .set({ status: op.status, finished_at: op.finishedAt, processing_time_ms: op.processingTimeMs })
    .where('id', '=', op.id)
    .executeTakeFirst();
  // Deleted meanwhile (or never started): don't leave orphan results behind.
  if (Number(updated.numUpdatedRows) === 0) return;
  await trx.deleteFrom('comparison_results').where('comparison_id', '=', op.id).execute();
  await insertChunked(op.results, (rows) => trx.insertInto('comparison_results').values(rows).execute());
}

async function applyResult(trx: Transaction<Database>, op: Extract<WriteOp, { kind: 'result' }>): Promise<void> {
  const { comparison_id, position, ...rest } = op.row;
  await trx.insertInto('comparison_results').values(op.row)
    .onConflict((oc) => oc.columns(['comparison_id', 'position']).doUpdateSet(rest))
    .execute();
}

async function applyMessages(trx: Transaction<Database>, op: Extract<WriteOp, { kind: 'messages' }>): Promise<void> {
  if (op.messages.length === 0) return;
  await trx.insertInto('conversations')
    .values({ id: op.conversationId, created_at: op.createdAt })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  const top = await trx.selectFrom('messages')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .where('conversation_id', '=', op.conversationId)
    .executeTakeFirst();
  const base = Number(top?.seq ?? 0);
  const rows = op.messages.map((m, i) => ({ ...m, conversation_id: op.conversationId, seq: base + i + 1, created_at: op.createdAt }));
  await insertChunked(rows, (chunk) => trx.insertInto('messages').values(chunk).execute());
}

/** Keeps multi-row inserts under both engines' bound-parameter limits. */
const CHUNK_ROWS = 500;

async function insertChunked<R>(rows: R[], insert: (chunk: R[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK_ROWS) await insert(rows.slice(i, i + CHUNK_ROWS));
}

function int(value: number | undefined): number | null {
  return value === undefined || !Number.isFinite(value) ? null : Math.round(value);
}

function real(value: number | undefined): number | null {
  return value === undefined || !Number.isFinite(value) ? null : value;
}
