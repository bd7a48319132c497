/** What a publish with an idempotency key learns first: go ahead, the first result, or a conflict. */
export type Claim<T> = { claimed: true } | { result: Promise<T> } | { conflict: true };

/**
 * Recent publishes by idempotency key, so a retried publish answers the first result instead of
 * publishing twice. `claim` is atomic: of two concurrent publishes with one key (on any node of
 * the store) one is told `claimed` and publishes, the other waits for its result.
 */
export interface IdempotencyStore<T> {
  claim(key: string, fingerprint: string): Promise<Claim<T>>;
  /** The claimed publish succeeded: later claims get `result`. */
  settle(key: string, fingerprint: string, result: T): Promise<void>;
  /** The claimed publish failed: the key is free again; waiters get `KeyReleased` (and claim it again). */
  release(key: string, fingerprint: string): Promise<void>;
}

/** A pending claim was released (its publish failed) while a retry waited for it: claim again. */
export class KeyReleased extends Error {
  override name = 'KeyReleased';
}

interface Entry<T> {
  fingerprint: string;
  result: Promise<T>;
  expires: number;
  resolve(value: T): void;
  reject(err: unknown): void;
}

/** In this process: a single node. Bounded by age and by count (oldest go first). */
export class MemoryIdempotencyStore<T> implements IdempotencyStore<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxKeys: number,
    private readonly now: () => number = Date.now,
  ) {}

  async claim(key: string, fingerprint: string): Promise<Claim<T>> {
    const entry = this.entries.get(key);
    if (entry && entry.expires > this.now()) return entry.fingerprint === fingerprint ? { result: entry.result } : { conflict: true };
    let resolve!: (value: T) => void;
    let reject!: (err: unknown) => void;
    const result = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    result.catch(() => undefined); // nobody may be waiting
    this.entries.delete(key);
    this.entries.set(key, { fingerprint, result, expires: this.now() + this.ttlMs, resolve, reject });
    this.evict();
    return { claimed: true };
  }

  async settle(key: string, fingerprint: string, result: T): Promise<void> {
    const entry = this.entries.get(key);
    if (entry?.fingerprint === fingerprint) entry.resolve(result);
  }

  async release(key: string, fingerprint: string): Promise<void> {
    const entry = this.entries.get(key);
    if (entry?.fingerprint !== fingerprint) return;
    this.entries.delete(key);
    entry.reject(new KeyReleased());
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
