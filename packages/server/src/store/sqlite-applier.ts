import type { CompiledQuery, Kysely, QueryResult } from 'kysely';
import type { Database, SqliteHandle } from './database.js';
import { opsQueries, type WriteOp } from './write-ops.js';

/**
 * Applies a write batch synchronously on the SQLite handle Kysely also uses. better-sqlite3
 * blocks anyway; skipping Kysely's promise hop per statement lets a commit someone waits for
 * happen on the very tick that asked for it (issue 11: last token → final event).
 */
export class SqliteApplier {
  private readonly inTransaction: (batch: WriteOp[]) => void;

  constructor(
    private readonly sqlite: SqliteHandle,
    db: Kysely<Database>,
  ) {
    // Immediate, as Kysely's transactions on this connection (store/database.ts): another connection may write.
    this.inTransaction = sqlite.file.transaction((batch: WriteOp[]) => {
      const steps = opsQueries(db, batch);
      for (let step = steps.next(); !step.done; ) step = steps.next(this.execute(step.value));
    }).immediate;
  }

  /**
   * Applies the batch atomically, or returns false without touching it when a Kysely
   * transaction (identity, jobs) is open on the connection: that one must not swallow ours.
   */
  tryApply(batch: WriteOp[]): boolean {
    if (this.sqlite.file.inTransaction) return false;
    this.inTransaction(batch);
    return true;
  }

  /** What Kysely's SqliteConnection does, without the promise (and with the same statement cache). */
  private execute(query: CompiledQuery): QueryResult<unknown> {
    const stmt = this.sqlite.prepare(query.sql);
    const params = query.parameters as unknown[];
    if (stmt.reader) return { rows: stmt.all(params) };
    const { changes } = stmt.run(params);
    return { numAffectedRows: BigInt(changes), rows: [] };
  }
}
