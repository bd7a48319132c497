import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql, type Generated } from 'kysely';
import pg from 'pg';
import { startCheckpointer } from './sqlite-checkpointer.js';

export type Dialect = 'sqlite' | 'postgres';

/** SQLite: TEXT 'YYYY-MM-DD HH:MM:SS' (UTC); PostgreSQL: timestamptz (read back as Date). */
export type DbTime = string | Date;

export interface ConversationsTable {
  id: string;
  created_at: DbTime;
}

export interface MessagesTable {
  id: Generated<number | string>;
  conversation_id: string;
  comparison_id: string;
  /** 1, 2, 3 … within the conversation. */
  seq: number;
  role: string;
  model_id: string | null;
  content: string;
  created_at: DbTime;
}

export interface ComparisonsTable {
  id: string;
  conversation_id: string;
  kind: string;
  tier: string;
  prompt: string;
  /** JSON array of model ids. */
  models: string;
  status: string;
  created_at: DbTime;
  finished_at: DbTime | null;
  processing_time_ms: number | null;
  /** The user who started it (directly or by API key); null for anonymous. */
  owner: string | null;
}

export interface ComparisonResultsTable {
  comparison_id: string;
  model_id: string;
  position: number;
  status: string;
  text: string;
  error_code: string | null;
  error_message: string | null;
  finish_reason: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  ttft_ms: number | null;
  duration_ms: number | null;
  tokens_per_second: number | null;
}

export interface UsageLogTable {
  id: Generated<number | string>;
  comparison_id: string;
  kind: string;
  input_length: number;
  models_requested: number;
  models_successful: number;
  models_failed: number;
  /** Sorted model ids, comma-joined (the seed's "most used models" query groups by it). */
  models_used: string;
  /** JSON object: model id → { input, output }. */
  model_tokens: string;
  processing_time_ms: number;
  created_at: DbTime;
  /** Who spent it: user id (null when anonymous or erased) and the API key used, if any. */
  owner: string | null;
  key_id: string | null;
  input_tokens: number;
  output_tokens: number;
  /** Estimate from the price table, USD. */
  cost_usd: number;
}

export interface UsersTable {
  id: string;
  email: string;
  password_hash: string;
  role: string;
  tier: string | null;
  created_at: DbTime;
  last_login_at: DbTime | null;
}

/** One signed-in session = one refresh-token family. */
export interface SessionsTable {
  id: string;
  user_id: string;
  created_at: DbTime;
  expires_at: DbTime;
  revoked_at: DbTime | null;
}

export interface RefreshTokensTable {
  /** SHA-256 of the token, hex. */
  token_hash: string;
  session_id: string;
  created_at: DbTime;
  used_at: DbTime | null;
}

export interface ApiKeysTable {
  id: string;
  user_id: string;
  name: string;
  /** SHA-256 of the key, hex (looked up by it). */
  key_hash: string;
  /** First characters of the key, for lists. */
  prefix: string;
  /** JSON array. */
  scopes: string;
  /** JSON object of the key's own limits (on top of its user's), or null. */
  limits: string | null;
  created_at: DbTime;
  last_used_at: DbTime | null;
  revoked_at: DbTime | null;
}

export interface LimitCountersTable {
  /** Names the subject, the limit and its window, e.g. `ip:1.2.3.4:responses:d20261130`. */
  bucket: string;
  count: number;
  /** Epoch ms when the window ends (purge). */
  window_end: number | string;
}

export interface AuditLogTable {
  id: Generated<number | string>;
  at: DbTime;
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
  request_id: string | null;
  /** Only on security events (sign-in, refresh reuse, limit violations). */
  ip: string | null;
  /** JSON object of non-personal details; never prompt or completion text. */
  details: string | null;
}

export interface Database {
  conversations: ConversationsTable;
  messages: MessagesTable;
  comparisons: ComparisonsTable;
  comparison_results: ComparisonResultsTable;
  usage_log: UsageLogTable;
  users: UsersTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  api_keys: ApiKeysTable;
  limit_counters: LimitCountersTable;
  audit_log: AuditLogTable;
  feature_flags: FeatureFlagsTable;
}

// ops (0005_ops): runtime flag state (its changes go to identity's audit_log).
export interface FeatureFlagsTable {
  name: string;
  /** JSON of the rule: enabled, rollout, allow, deny. */
  rule: string;
  updated_at: DbTime;
  updated_by: string;
}

export interface DatabaseOptions {
  dataDir: string;
  databaseUrl?: string | undefined;
  schema?: string | undefined;
  /** SQLite `synchronous` (WAL): NORMAL (default) survives a process crash; FULL also a power loss. */
  sqliteSynchronous?: 'normal' | 'full' | undefined;
  /** Told about errors of idle pooled PostgreSQL connections. */
  onPoolError?: ((err: Error) => void) | undefined;
  /** Told when SQLite's background WAL checkpoint fails (store/sqlite-checkpointer.ts). */
  onCheckpointError?: ((message: string) => void) | undefined;
}

export interface OpenedDatabase {
  db: Kysely<Database>;
  dialect: Dialect;
  /** The PostgreSQL schema everything lives in (for the migration tables); undefined on SQLite. */
  schema: string | undefined;
  /** SQLite only: the better-sqlite3 handle under `db`, for synchronous write batches. */
  sqlite?: SqliteHandle | undefined;
}

/** The better-sqlite3 handle and the statement cache Kysely's driver uses too (one cache per connection). */
export interface SqliteHandle {
  file: SqliteDatabase.Database;
  prepare(sql: string): SqliteDatabase.Statement;
  /** Stops the checkpoint thread; await it before closing the database (Kysely's destroy cannot). */
  stopCheckpoints(): Promise<void>;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]*$/;

/** Creates the Kysely instance for SQLite (default) or PostgreSQL (when a URL is given). */
export async function openDatabase(opts: DatabaseOptions): Promise<OpenedDatabase> {
  if (opts.databaseUrl) return openPostgres(opts.databaseUrl, opts.schema, opts.onPoolError);
  mkdirSync(opts.dataDir, { recursive: true });
  const file = new SqliteDatabase(join(opts.dataDir, 'tributary.db'), { timeout: 5_000 });
  file.pragma('journal_mode = WAL');
  file.pragma(`synchronous = ${opts.sqliteSynchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  const prepare = cachingStatements(file);
  const checkpointer = startCheckpointer(file, opts.onCheckpointError ?? (() => undefined));
  const close = () => {
    void checkpointer.stop(); // already stopped when the store closed; a bare destroy() does not wait
    file.close();
  };
  return {
    db: new Kysely<Database>({ dialect: new SqliteDialect({ database: { close, prepare } }) }),
    dialect: 'sqlite',
    schema: undefined,
    sqlite: { file, prepare, stopCheckpoints: checkpointer.stop },
  };
}

const STATEMENT_CACHE = 256;

/**
 * Kysely's SQLite driver prepares every query anew; preparing costs more than running a small
 * statement (SQLite parses and plans it). Prepared statements are kept by their SQL text, the
 * least recently used dropped past STATEMENT_CACHE. Safe because Kysely runs one query at a
 * time on its single connection (a streamed select holds it until the end), and the synchronous
 * write batches (`SqliteApplier`) run only writes, between Kysely's queries.
 */
function cachingStatements(file: SqliteDatabase.Database): (text: string) => SqliteDatabase.Statement {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return (text) => {
    let statement = cache.get(text);
    if (statement)
      cache.delete(text); // re-inserted below: the Map's order is the use order
    else {
      // Kysely's `begin` is deferred: a transaction that reads first and writes later fails with
      // SQLITE_BUSY if another connection (the jobs' thread) committed in between. Immediate
      // takes the write lock at once (waiting for it like any write), so it cannot.
      statement = file.prepare(text === 'begin' ? 'begin immediate' : text);
      if (cache.size >= STATEMENT_CACHE) cache.delete(cache.keys().next().value!);
    }
    cache.set(text, statement);
    return statement;
  };
}

async function openPostgres(url: string, schema: string | undefined, onPoolError?: (err: Error) => void): Promise<OpenedDatabase> {
  // The name is interpolated into SQL below, so it must be a plain identifier.
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) throw new Error(`Invalid PostgreSQL schema name: ${schema}`);
  if (schema) await createSchema(url, schema);
  // `options` applies search_path at connection start-up, so every pooled connection has it
  // before its first query (an on-connect SET would race the first query).
  // A bounded connect: an unreachable host fails the query (503) instead of holding it forever.
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 5_000, ...(schema ? { options: `-c search_path=${schema}` } : {}) });
  // A client losing its connection emits 'error': on the pool while idle, on the client itself
  // while checked out between queries (a transaction's, a job runner's). Unhandled, either would
  // crash the process; the query in flight, if any, fails on its own and is retried or answered 503.
  pool.on('error', (err) => onPoolError?.(err));
  pool.on('connect', (client) => client.on('error', (err) => onPoolError?.(err)));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
    return { db, dialect: 'postgres', schema: rows[0]?.schema ?? schema ?? 'public' };
  } catch (err) {
    await db.destroy();
    throw err;
  }
}

async function createSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  } catch (err) {
    // Two processes creating it at once: the loser gets a unique violation; the schema exists.
    if ((err as { code?: string }).code !== '23505') throw err;
  } finally {
    await client.end();
  }
}
