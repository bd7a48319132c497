import { openDatabase } from './database.js';
import { KyselyStore } from './kysely-store.js';
import { lockDataDir } from './data-dir-lock.js';
import { migrate } from './migrations.js';
import { isDatabaseOutage } from './outage.js';
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
  /** Bytes queued writes may hold during an outage before new work is refused. */
  maxPendingBytes?: number | undefined;
  /** Group commit window once someone waits for a commit (ms). */
  commitDelayMs?: number | undefined;
  /** SQLite `synchronous` in WAL mode: NORMAL survives a process crash, FULL also a power loss. */
  sqliteSynchronous?: 'normal' | 'full' | undefined;
  /** Keep retrying an unreachable database at start for this long before failing (default 0: once). */
  startupTimeoutMs?: number | undefined;
  /** Told about each failed start attempt (logs). */
  onStartupRetry?: ((err: unknown, attempt: number, retryInMs: number) => void) | undefined;
}

/** Opens the database, brings its schema up to date, and returns the Store over it. */
export async function openStore(opts: OpenStoreOptions): Promise<KyselyStore> {
  const lock = opts.databaseUrl ? undefined : lockDataDir(opts.dataDir);
  try {
    const { db, dialect, schema, sqlite } = await retryOutage(opts, () =>
      openDatabase({
        dataDir: opts.dataDir,
        databaseUrl: opts.databaseUrl,
        schema: opts.schema,
        sqliteSynchronous: opts.sqliteSynchronous,
        onPoolError: (err) => opts.logger?.warn({ err }, 'idle PostgreSQL connection failed'),
        onCheckpointError: (message) => opts.logger?.warn(message),
      }),
    );
    try {
      await retryOutage(opts, () => migrate(db, dialect, schema));
    } catch (err) {
      await db.destroy();
      throw err;
    }
    return new KyselyStore(db, dialect, { ...opts, sqlite, onClosed: () => lock?.release() });
  } catch (err) {
    lock?.release();
    throw err;
  }
}

/** Retries `fn` while the database is unreachable, with doubling backoff, until the start deadline. */
async function retryOutage<T>(opts: OpenStoreOptions, fn: () => Promise<T>): Promise<T> {
  // A local SQLite file that fails to open will not heal by waiting: only a server is retried.
  const deadline = Date.now() + (opts.databaseUrl ? (opts.startupTimeoutMs ?? 0) : 0);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const left = deadline - Date.now();
      if (!isDatabaseOutage(err) || left <= 0) {
        if (isDatabaseOutage(err)) throw new DatabaseUnreachableError(err, attempt);
        throw err;
      }
      const wait = Math.min(left, 200 * 2 ** Math.min(attempt - 1, 5));
      opts.onStartupRetry?.(err, attempt, wait);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

/** The database could not be reached at start, however long we retried. */
export class DatabaseUnreachableError extends Error {
  constructor(cause: unknown, attempts: number) {
    const reason = cause instanceof Error ? ((cause as { code?: string }).code ?? cause.message) : String(cause);
    super(`The database is unreachable (${reason}) after ${attempts} attempt${attempts === 1 ? '' : 's'}.`, { cause });
    this.name = 'DatabaseUnreachableError';
  }
}
