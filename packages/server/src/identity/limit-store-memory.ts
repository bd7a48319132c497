import type { Charge, ConsumeResult, LimitStore } from './limit-store.js';

/**
 * Counters in this process's memory: no write per request, so nothing on the request path can
 * wait for the disk; for a single node only (restarts forget, other nodes don't see them).
 * `identity.limitStore: "memory"`.
 */
export class MemoryLimitStore implements LimitStore {
  private readonly counters = new Map<string, { count: number; windowEnd: number }>();

  async consume(charges: Charge[]): Promise<ConsumeResult> {
    // Synchronous from check to write: nothing can interleave, so all-or-nothing is free.
    for (let i = 0; i < charges.length; i++) {
      const c = charges[i]!;
      const count = this.counters.get(c.bucket)?.count ?? 0;
      if (count + c.amount > c.limit) return { allowed: false, index: i, count };
    }
    return {
      allowed: true,
      counts: charges.map((c) => {
        const entry = this.counters.get(c.bucket) ?? { count: 0, windowEnd: c.windowEnd };
        entry.count += c.amount;
        this.counters.set(c.bucket, entry);
        return entry.count;
      }),
    };
  }

  async get(buckets: string[]): Promise<number[]> {
    return buckets.map((b) => this.counters.get(b)?.count ?? 0);
  }

  async purge(now: number): Promise<number> {
    let n = 0;
    for (const [bucket, entry] of this.counters) {
      if (entry.windowEnd < now) {
        this.counters.delete(bucket);
        n += 1;
      }
    }
    return n;
  }

  async forget(subject: string): Promise<void> {
    for (const bucket of this.counters.keys()) if (bucket.includes(`:${subject}:`)) this.counters.delete(bucket);
  }
}
