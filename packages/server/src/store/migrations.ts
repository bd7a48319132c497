import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Database, Dialect } from './database.js';

/**
 * The one migration set for both dialects. Migrations take `Kysely<any>` because they must
 * keep compiling as the `Database` interface moves on. Append new entries; never edit old ones.
 * No foreign keys on purpose: a constraint failing inside a queued batch would block the
 * write queue (batches retry, never drop), so deletes clean up related rows explicitly.
 */
export function migrationsFor(dialect: Dialect): Record<string, Migration> {
  const time = dialect === 'postgres' ? 'timestamptz' : 'text';
  const real = dialect === 'postgres' ? 'double precision' : 'real';
  const autoId = dialect === 'postgres' ? 'bigserial' : 'integer';

  return {
    '0001_initial': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('conversations')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('created_at', time, (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('messages')
          .addColumn('id', autoId, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
          .addColumn('conversation_id', 'text', (c) => c.notNull())
          .addColumn('comparison_id', 'text', (c) => c.notNull())
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('model_id', 'text')
          .addColumn('content', 'text', (c) => c.notNull())
          .addColumn('created_at', time, (c) => c.notNull())
          .execute();
        // Serves "messages of a conversation in order" and the next-seq lookup; unique so two
        // writers can never interleave one conversation (the loser's batch retries).
        await db.schema.createIndex('messages_conversation_seq_idx').unique().on('messages').columns(['conversation_id', 'seq']).execute();

        await db.schema
          .createTable('comparisons')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('conversation_id', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('tier', 'text', (c) => c.notNull())
          .addColumn('prompt', 'text', (c) => c.notNull())
          .addColumn('models', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('created_at', time, (c) => c.notNull())
          .addColumn('finished_at', time)
          .addColumn('processing_time_ms', 'integer')
          .execute();
        await db.schema.createIndex('comparisons_created_at_idx').on('comparisons').column('created_at').execute();
        await db.schema.createIndex('comparisons_conversation_idx').on('comparisons').columns(['conversation_id', 'created_at']).execute();

        await db.schema
          .createTable('comparison_results')
          .addColumn('comparison_id', 'text', (c) => c.notNull())
          .addColumn('model_id', 'text', (c) => c.notNull())
          .addColumn('position', 'integer', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('text', 'text', (c) => c.notNull())
          .addColumn('error_code', 'text')
          .addColumn('error_message', 'text')
          .addColumn('finish_reason', 'text')
          .addColumn('input_tokens', 'integer')
          .addColumn('output_tokens', 'integer')
          .addColumn('ttft_ms', 'integer')
          .addColumn('duration_ms', 'integer')
          .addColumn('tokens_per_second', real)
          .addPrimaryKeyConstraint('comparison_results_pk', ['comparison_id', 'position'])
          .execute();

        await db.schema
          .createTable('usage_log')
          .addColumn('id', autoId, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
          .addColumn('comparison_id', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('input_length', 'integer', (c) => c.notNull())
          .addColumn('models_requested', 'integer', (c) => c.notNull())
          .addColumn('models_successful', 'integer', (c) => c.notNull())
          .addColumn('models_failed', 'integer', (c) => c.notNull())
          .addColumn('models_used', 'text', (c) => c.notNull())
          .addColumn('model_tokens', 'text', (c) => c.notNull())
          .addColumn('processing_time_ms', 'integer', (c) => c.notNull())
          .addColumn('created_at', time, (c) => c.notNull())
          .execute();
        // The monitoring queries all filter on the last 24 hours.
        await db.schema.createIndex('usage_log_created_at_idx').on('usage_log').column('created_at').execute();
      },
    },
    '0003_identity': {
      async up(db: Kysely<any>) {
        await db.schema.alterTable('comparisons').addColumn('owner', 'text').execute();
        await db.schema.createIndex('comparisons_owner_idx').on('comparisons').columns(['owner', 'created_at']).execute();
        for (const [name, type, dflt] of [
          ['owner', 'text', null],
          ['key_id', 'text', null],
          ['input_tokens', 'integer', 0],
          ['output_tokens', 'integer', 0],
          ['cost_usd', real, 0],
        ] as const) {
          await db.schema
            .alterTable('usage_log')
            .addColumn(name, type, (c) => (dflt === null ? c : c.notNull().defaultTo(dflt)))
            .execute();
        }
        await db.schema.createIndex('usage_log_owner_idx').on('usage_log').columns(['owner', 'created_at']).execute();

        await db.schema
          .createTable('users')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('email', 'text', (c) => c.notNull().unique())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('tier', 'text')
          .addColumn('created_at', time, (c) => c.notNull())
          .addColumn('last_login_at', time)
          .execute();
        await db.schema
          .createTable('sessions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('created_at', time, (c) => c.notNull())
          .addColumn('expires_at', time, (c) => c.notNull())
          .addColumn('revoked_at', time)
          .execute();
        await db.schema.createIndex('sessions_user_idx').on('sessions').column('user_id').execute();
        await db.schema
          .createTable('refresh_tokens')
          .addColumn('token_hash', 'text', (c) => c.primaryKey())
          .addColumn('session_id', 'text', (c) => c.notNull())
          .addColumn('created_at', time, (c) => c.notNull())
          .addColumn('used_at', time)
          .execute();
        await db.schema.createIndex('refresh_tokens_session_idx').on('refresh_tokens').column('session_id').execute();
        await db.schema
          .createTable('api_keys')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('key_hash', 'text', (c) => c.notNull().unique())
          .addColumn('prefix', 'text', (c) => c.notNull())
          .addColumn('scopes', 'text', (c) => c.notNull())
          .addColumn('limits', 'text')
          .addColumn('created_at', time, (c) => c.notNull())
          .addColumn('last_used_at', time)
          .addColumn('revoked_at', time)
          .execute();
        await db.schema.createIndex('api_keys_user_idx').on('api_keys').column('user_id').execute();
        await db.schema
          .createTable('limit_counters')
          .addColumn('bucket', 'text', (c) => c.primaryKey())
          .addColumn('count', 'bigint', (c) => c.notNull())
          .addColumn('window_end', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('limit_counters_window_idx').on('limit_counters').column('window_end').execute();
        await db.schema
          .createTable('audit_log')
          .addColumn('id', autoId, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
          .addColumn('at', time, (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('target', 'text')
          .addColumn('outcome', 'text', (c) => c.notNull())
          .addColumn('request_id', 'text')
          .addColumn('ip', 'text')
          .addColumn('details', 'text')
          .execute();
        await db.schema.createIndex('audit_log_at_idx').on('audit_log').column('at').execute();
        await db.schema.createIndex('audit_log_actor_idx').on('audit_log').columns(['actor', 'at']).execute();
      },
    },
    '0004_jobs': {
      async up(db: Kysely<any>) {
        const ms = dialect === 'postgres' ? 'double precision' : 'integer';
        await db.schema
          .createTable('jobs')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('owner', 'text')
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('tier', 'text', (c) => c.notNull())
          .addColumn('models', 'text', (c) => c.notNull())
          .addColumn('params', 'text')
          .addColumn('concurrency', 'integer', (c) => c.notNull())
          .addColumn('total', 'integer', (c) => c.notNull())
          .addColumn('created_at', ms, (c) => c.notNull())
          .addColumn('started_at', ms)
          .addColumn('finished_at', ms)
          .execute();
        await db.schema.createIndex('jobs_status_created_idx').on('jobs').columns(['status', 'created_at']).execute();
        await db.schema.createIndex('jobs_created_idx').on('jobs').column('created_at').execute();

        await db.schema
          .createTable('job_prompts')
          .addColumn('job_id', 'text', (c) => c.notNull())
          .addColumn('prompt_index', 'integer', (c) => c.notNull())
          .addColumn('prompt_id', 'text')
          .addColumn('prompt', 'text', (c) => c.notNull())
          .addColumn('system', 'text')
          .addPrimaryKeyConstraint('job_prompts_pk', ['job_id', 'prompt_index'])
          .execute();

        await db.schema
          .createTable('job_items')
          .addColumn('id', autoId, (c) => (dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
          .addColumn('job_id', 'text', (c) => c.notNull())
          .addColumn('prompt_index', 'integer', (c) => c.notNull())
          .addColumn('model', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('worker', 'text')
          .addColumn('lease_until', ms)
          .addColumn('not_before', ms, (c) => c.notNull().defaultTo(0))
          .addColumn('text', 'text')
          .addColumn('error_code', 'text')
          .addColumn('error_message', 'text')
          .addColumn('retryable', 'integer')
          .addColumn('suggested_action', 'text')
          .addColumn('finish_reason', 'text')
          .addColumn('input_tokens', 'integer')
          .addColumn('output_tokens', 'integer')
          .addColumn('ttft_ms', 'integer')
          .addColumn('duration_ms', 'integer')
          .addColumn('tokens_per_second', real)
          .addColumn('started_at', ms)
          .addColumn('finished_at', ms)
          .execute();
        // One row per (prompt, model): a retry updates it, never adds another.
        await db.schema.createIndex('job_items_unique_idx').unique().on('job_items').columns(['job_id', 'prompt_index', 'model']).execute();
        // Claims walk a job's queued items of one model in id order; the index gives that order, so a claim never sorts.
        await db.schema.createIndex('job_items_claim_idx').on('job_items').columns(['job_id', 'model', 'status', 'id']).execute();
        // Finding running items whose lease ran out (a dead or stalled worker's).
        await db.schema.createIndex('job_items_lease_idx').on('job_items').columns(['status', 'lease_until']).execute();
      },
    },
    '0005_ops': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('feature_flags')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('rule', 'text', (c) => c.notNull())
          .addColumn('updated_at', time, (c) => c.notNull())
          .addColumn('updated_by', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0006_job_partial_indexes': {
      async up(db: Kysely<any>) {
        // Each index holds only the rows its queries look for (claims: queued; lease checks:
        // running), so an item's claim and its result touch three index entries instead of
        // rewriting an entry of each full index twice (a stand-alone claim + result loop: −32 %
        // of SQLite's instructions).
        await db.schema.dropIndex('job_items_claim_idx').execute();
        await db.schema.dropIndex('job_items_lease_idx').execute();
        await db.schema
          .createIndex('job_items_queued_idx')
          .on('job_items')
          .columns(['job_id', 'model', 'id'])
          .where(sql.ref('status'), '=', 'queued')
          .execute();
        await db.schema.createIndex('job_items_running_idx').on('job_items').column('lease_until').where(sql.ref('status'), '=', 'running').execute();
      },
    },
  };
}

class InCodeProvider implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrationsFor(this.dialect);
  }
}

/** Brings the database to the latest migration; a no-op when it already is. */
export async function migrate(db: Kysely<Database>, dialect: Dialect, schema: string | undefined): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: new InCodeProvider(dialect),
    // Kysely looks for its bookkeeping tables in every schema unless told which one; with
    // several schemas in one database (tests) it would find another schema's table.
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  let { error, results } = await migrator.migrateToLatest();
  // Kysely's introspection lists the tables and columns of every schema; one dropped meanwhile
  // (another process's, e.g. tests sharing a database) fails it with "undefined table / column /
  // schema" before any migration ran. Nothing was changed then: look again.
  const vanished = (err: unknown) => ['42P01', '42703', '42704', '3F000'].includes((err as { code?: string }).code ?? '');
  for (let attempt = 1; error && vanished(error) && !results?.length && attempt <= 5; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
    ({ error, results } = await migrator.migrateToLatest());
  }
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new MigrationError(`Database migration ${failed ? `${failed} ` : ''}failed: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}

/** The database's schema cannot be brought up to date (an operator must look): the CLI says it in one line. */
export class MigrationError extends Error {
  override name = 'MigrationError';
}
