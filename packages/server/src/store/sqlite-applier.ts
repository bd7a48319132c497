import type SqliteDatabase from 'better-sqlite3';
import type { CompiledQuery, Kysely, QueryResult } from 'kysely';
import type { Database } from './database.js';
import { opsQueries, type WriteOp } from './write-ops.js';

/** Distinct statements kept prepared (multi-row inserts vary by row count, so the set is bounded). */
const MAX_STATEMENTS = 200;

/**
 * Applies a write batch synchronously on the SQLite handle Kysely also uses. better-sqlite3
 * blocks anyway; skipping Kysely's promise hop per statement lets a commit someone waits for
 * happen on the very tick that asked for it (issue 11: last token → final event).
 */
export class SqliteApplier {
  private readonly statements = new Map<string, SqliteDatabase.Statement>();
  private readonly inTransaction: (batch: WriteOp[]) => void;

  constructor(
    private readonly file: SqliteDatabase.Database,
    db: Kysely<Database>,
  ) {
    this.inTransaction = file.transaction((batch: WriteOp[]) => {
      const steps = opsQueries(db, batch);
      for (let step = steps.next(); !step.done; ) step = steps.next(this.execute(step.value));
    });
  }

  /**
   * Applies the batch atomically, or returns false without touching it when a Kysely
   * transaction (identity, jobs) is open on the connection: that one must not swallow ours.
   */
  tryApply(batch: WriteOp[]): boolean {
    if (this.file.inTransaction) return false;
    this.inTransaction(batch);
    return true;
  }

  /** What Kysely's SqliteConnection does, without the promise. */
  private execute(query: CompiledQuery): QueryResult<unknown> {
    let stmt = this.statements.get(query.sql);
    if (!stmt) {
      if (this.statements.size >= MAX_STATEMENTS) this.statements.clear();
      stmt = this.file.prepare(query.sql);
      this.statements.set(query.sql, stmt);
    }
    const params = query.parameters as unknown[];
    if (stmt.reader) return { rows: stmt.all(params) };
    const { changes } = stmt.run(params);
    return { numAffectedRows: BigInt(changes), rows: [] };
  }
}
