/**
 * Remembers recent publishes by idempotency key, so a retried publish answers the first
 * result instead of publishing twice. Bounded by age and by count (oldest go first).
 */
export class IdempotencyCache<T> {
  private readonly entries = new Map<string, { fingerprint: string; result: Promise<T>; expires: number }>();

  constructor(private readonly ttlMs: number, private readonly maxKeys: number, private readonly now: () => number = Date.now) {}

  /** The earlier result for this key, `conflict` when it was used for another publish, else undefined. */
  get(key: string, fingerprint: string): { result: Promise<T> } | { conflict: true } | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expires <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.fingerprint === fingerprint ? { result: entry.result } : { conflict: true };
  }

  set(key: string, fingerprint: string, result: Promise<T>): void {
    this.entries.delete(key);
    this.entries.set(key, { fingerprint, result, expires: this.now() + this.ttlMs });
    // A failed publish may be retried with the same key.
    result.catch(() => {
      if (this.entries.get(key)?.result === result) this.entries.delete(key);
    });
    this.evict();
  }

  get size(): number {
    return this.entries.size;
  }

  private evict(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.maxKeys && entry.expires > now) break;
      this.entries.delete(key);
    }
  }
}
