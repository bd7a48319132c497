import type { Redis } from 'ioredis';
import { KeyReleased, type Claim, type IdempotencyStore } from './idempotency.js';

interface Stored<T> {
  fingerprint: string;
  /** Absent while the claiming node publishes. */
  result?: T;
}

/** How long a claim may stay unsettled (its node died mid-publish) before another publish may take the key. */
const PENDING_MS = 10_000;
const POLL_MS = 20;
/** Deletes the key only while it still holds this exact pending claim. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

const pending = (fingerprint: string) => JSON.stringify({ fingerprint } satisfies Stored<unknown>);

/**
 * Idempotency keys in Redis, shared by every node: `SET key {fingerprint} NX PX` claims a key,
 * then the claiming node stores its answer under it for the TTL. A publish that meets a claim
 * still pending waits for the answer (polling), and claims again when that one is released.
 */
export class RedisIdempotencyStore<T> implements IdempotencyStore<T> {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  async claim(key: string, fingerprint: string): Promise<Claim<T>> {
    const k = this.key(key);
    for (;;) {
      const set = await this.redis.set(k, pending(fingerprint), 'PX', Math.min(PENDING_MS, this.ttlMs), 'NX');
      if (set === 'OK') return { claimed: true };
      const stored = await this.read(k);
      if (!stored) continue; // expired or released between the two commands
      if (stored.fingerprint !== fingerprint) return { conflict: true };
      if (stored.result !== undefined) return { result: Promise.resolve(stored.result) };
      return { result: this.waitFor(k, fingerprint) };
    }
  }

  async settle(key: string, fingerprint: string, result: T): Promise<void> {
    await this.redis.set(this.key(key), JSON.stringify({ fingerprint, result } satisfies Stored<T>), 'PX', this.ttlMs);
  }

  /** Only our own pending claim: one that expired meanwhile may be another publish's now. */
  async release(key: string, fingerprint: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key(key), pending(fingerprint));
  }

  /** The answer of a publish another request (here or on another node) is making. */
  private async waitFor(k: string, fingerprint: string): Promise<T> {
    for (;;) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      const stored = await this.read(k);
      // Released (that publish failed) or expired: the caller claims again.
      if (!stored || stored.fingerprint !== fingerprint) throw new KeyReleased();
      if (stored.result !== undefined) return stored.result;
    }
  }

  private async read(k: string): Promise<Stored<T> | undefined> {
    const text = await this.redis.get(k);
    return text === null ? undefined : (JSON.parse(text) as Stored<T>);
  }

  private key(key: string): string {
    return `${this.prefix}idem:${key}`;
  }
}
