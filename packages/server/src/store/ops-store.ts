import type { Kysely } from 'kysely';
import type { Database, Dialect } from './database.js';
import { fromDbTime, toDbTime } from './time.js';
import type { OpsStore, StoredFlag } from './types.js';

/** Flags: rare, small writes, made at once (not through the batch queue). */
export class KyselyOpsStore implements OpsStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  async loadFlags(): Promise<StoredFlag[]> {
    const rows = await this.db.selectFrom('feature_flags').selectAll().orderBy('name').execute();
    return rows.map((r) => ({ name: r.name, rule: JSON.parse(r.rule), updatedAt: fromDbTime(r.updated_at), updatedBy: r.updated_by }));
  }

  async saveFlag(flag: StoredFlag): Promise<void> {
    const row = { name: flag.name, rule: JSON.stringify(flag.rule), updated_at: toDbTime(this.dialect, flag.updatedAt), updated_by: flag.updatedBy };
    await this.db
      .insertInto('feature_flags')
      .values(row)
      .onConflict((oc) => oc.column('name').doUpdateSet({ rule: row.rule, updated_at: row.updated_at, updated_by: row.updated_by }))
      .execute();
  }
}
