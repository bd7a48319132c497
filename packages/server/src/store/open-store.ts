import { openDatabase } from './database.js';
import { KyselyStore } from './kysely-store.js';
import { migrate } from './migrations.js';
import type { BatchInfo, StoreLogger } from './write-queue.js';

export interface OpenStoreOptions {
  dataDir: string;
  /** postgres://… selects PostgreSQL; unset means SQLite at <dataDir>/tributary.db. */
  databaseUrl?: string | undefined;
  /** PostgreSQL schema, created if missing and used as every connection's search_path. */
  schema?: string | undefined;
  flushIntervalMs: number;
  /** Rows per write transaction; reaching it also triggers a write at once. */
  batchSize: number;
  logger?: StoreLogger | undefined;
  /** Called after every write batch attempt (metrics, tests). */
  onBatch?: ((info: BatchInfo) => void) | undefined;
  /** How long close() retries a failing database before giving up on queued rows (default 10 s). */
  closeTimeoutMs?: number | undefined;
  /** Backoff between retries of a failed batch (defaults 100 ms doubling to 30 s). */
  minRetryMs?: number | undefined;
  maxRetryMs?: number | undefined;
}

/** Opens the database, brings its schema up to date, and returns the Store over it. */
export async function openStore(opts: OpenStoreOptions): Promise<KyselyStore> {
  const { db, dialect, schema } = await openDatabase({
    dataDir: opts.dataDir,
    databaseUrl: opts.databaseUrl,
    schema: opts.schema,
    onPoolError: (err) => opts.logger?.warn({ err }, 'idle PostgreSQL connection failed'),
  });
  try {
    await migrate(db, dialect, schema);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return new KyselyStore(db, dialect, opts);
}
