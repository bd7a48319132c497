import { sql, type Kysely } from 'kysely';
import type { Database } from '../store/database.js';

/** One charge against a counter: `bucket` names the subject, the limit and its window. */
export interface Charge {
  bucket: string;
  amount: number;
  /** Most the counter may reach; Infinity charges unconditionally. */
  limit: number;
  /** Epoch ms when the window ends (the counter is purged after). */
  windowEnd: number;
}

export type ConsumeResult =
  | { allowed: true; counts: number[] }
  /** `index` is the first charge that lacked room; `count` its current value. Nothing was charged. */
  | { allowed: false; index: number; count: number };

/**
 * Atomic counters for limits. Memory-free so every node of a cluster shares them; a Redis
 * implementation can take over behind this interface.
 */
export interface LimitStore {
  /** All or nothing: every charge fits and is applied, or none is. */
  consume(charges: Charge[]): Promise<ConsumeResult>;
  /** Current values (0 for a bucket never charged). */
  get(buckets: string[]): Promise<number[]>;
  /** Drops counters whose window ended before `now`. */
  purge(now: number): Promise<number>;
  /** Drops every counter whose bucket contains `subject` (erasure). */
  forget(subject: string): Promise<void>;
}

/**
 * Counters in the database. One conditional upsert per bucket (`… ON CONFLICT DO UPDATE …
 * WHERE count + n <= limit RETURNING count`) in one transaction, buckets in sorted order so two
 * transactions never lock the same pair in opposite orders; a charge without room rolls back
 * the ones before it. SQLite serialises transactions; PostgreSQL row locks make the WHERE see
 * the committed count.
 */
export class DbLimitStore implements LimitStore {
  constructor(private readonly db: Kysely<Database>) {}

  async consume(charges: Charge[]): Promise<ConsumeResult> {
    // Nothing limited (every limit of the class off): no round trip, so no dependency on the database.
    if (charges.length === 0) return { allowed: true, counts: [] };
    const order = charges.map((_, i) => i).sort((a, b) => (charges[a]!.bucket < charges[b]!.bucket ? -1 : 1));
    const refused = new Refused();
    try {
      return await this.db.transaction().execute(async (trx) => {
        const counts: number[] = new Array(charges.length);
        for (const i of order) {
          const c = charges[i]!;
          if (c.amount > c.limit) {
            // Through the transaction: on SQLite another query would wait for it forever.
            const row = await trx.selectFrom('limit_counters').select('count').where('bucket', '=', c.bucket).executeTakeFirst();
            throw refused.at(i, Number(row?.count ?? 0));
          }
          const capped = Number.isFinite(c.limit);
          const { rows } = await sql<{ count: number | string }>`
            insert into limit_counters (bucket, count, window_end) values (${c.bucket}, ${c.amount}, ${c.windowEnd})
            on conflict (bucket) do update set count = limit_counters.count + excluded.count
            ${capped ? sql`where limit_counters.count + excluded.count <= ${c.limit}` : sql``}
            returning count`.execute(trx);
          if (rows.length === 0) {
            const row = await trx.selectFrom('limit_counters').select('count').where('bucket', '=', c.bucket).executeTakeFirst();
            throw refused.at(i, Number(row?.count ?? 0));
          }
          counts[i] = Number(rows[0]!.count);
        }
        return { allowed: true as const, counts };
      });
    } catch (err) {
      if (err === refused) return { allowed: false, index: refused.index, count: refused.count };
      throw err;
    }
  }

  async get(buckets: string[]): Promise<number[]> {
    if (buckets.length === 0) return [];
    const rows = await this.db.selectFrom('limit_counters').select(['bucket', 'count']).where('bucket', 'in', buckets).execute();
    const byBucket = new Map(rows.map((r) => [r.bucket, Number(r.count)]));
    return buckets.map((b) => byBucket.get(b) ?? 0);
  }

  async purge(now: number): Promise<number> {
    const result = await this.db.deleteFrom('limit_counters').where('window_end', '<', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async forget(subject: string): Promise<void> {
    const pattern = `%:${subject.replace(/[\\%_]/g, (c) => `\\${c}`)}:%`;
    await this.db.deleteFrom('limit_counters').where(sql<boolean>`bucket like ${pattern} escape '\\'`).execute();
  }
}

/** Thrown inside the transaction to roll it back; carries which charge lacked room. */
class Refused {
  index = -1;
  count = 0;
  at(index: number, count: number): this {
    this.index = index;
    this.count = count;
    return this;
  }
}
