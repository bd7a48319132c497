import { describe, expect, it } from 'vitest';
import { KeyReleased, MemoryIdempotencyStore, type IdempotencyStore } from '../src/realtime/idempotency.js';
import { RedisIdempotencyStore } from '../src/realtime/idempotency-redis.js';
import { opensEach } from './support/backends.js';
import { openRedis, redisAvailable } from './support/redis.js';

const redisUp = await redisAvailable();

type Result = { seq: number };

/** The IdempotencyStore contract, against every implementation (publish uses it through PublishService). */
const IMPLEMENTATIONS = [
  {
    name: 'memory',
    enabled: true,
    open: async () => ({ store: new MemoryIdempotencyStore<Result>(60_000, 1_000) as IdempotencyStore<Result>, close: async () => undefined }),
  },
  {
    name: 'redis',
    enabled: redisUp,
    open: async () => {
      const { redis, prefix, close } = await openRedis();
      return { store: new RedisIdempotencyStore<Result>(redis.client, prefix, 60_000) as IdempotencyStore<Result>, close };
    },
  },
];

describe.each(IMPLEMENTATIONS)('IdempotencyStore contract: $name', ({ open, enabled }) => {
  const start = opensEach(open, (o) => o.store);

  it.runIf(enabled)('the first claim wins; later ones get its result, or a conflict for other content', async () => {
    const s = await start();
    expect(await s.claim('k', 'fp1')).toEqual({ claimed: true });
    await s.settle('k', 'fp1', { seq: 7 });
    const again = await s.claim('k', 'fp1');
    expect('result' in again && (await again.result)).toEqual({ seq: 7 });
    expect(await s.claim('k', 'fp2')).toEqual({ conflict: true });
  });

  it.runIf(enabled)('of ten concurrent claims one is told to publish; the rest wait for its answer', async () => {
    const s = await start();
    const claims = await Promise.all(Array.from({ length: 10 }, () => s.claim('c', 'fp')));
    expect(claims.filter((c) => 'claimed' in c)).toHaveLength(1);
    const waiting = claims.filter((c): c is { result: Promise<Result> } => 'result' in c);
    expect(waiting).toHaveLength(9);
    setTimeout(() => void s.settle('c', 'fp', { seq: 3 }), 50);
    expect(await Promise.all(waiting.map((w) => w.result))).toEqual(Array(9).fill({ seq: 3 }));
  });

  it.runIf(enabled)('a released claim frees the key: a waiter is told KeyReleased and its next claim wins', async () => {
    const s = await start();
    expect(await s.claim('r', 'fp')).toEqual({ claimed: true });
    const waiter = await s.claim('r', 'fp');
    if (!('result' in waiter)) throw new Error('expected to wait');
    const outcome = waiter.result.then(
      () => 'settled',
      (err: unknown) => err,
    );
    await s.release('r', 'fp');
    expect(await outcome).toBeInstanceOf(KeyReleased);
    expect(await s.claim('r', 'fp')).toEqual({ claimed: true });
    // Releasing with another fingerprint leaves someone else's claim alone.
    await s.release('r', 'other');
    expect(await s.claim('r', 'other')).toEqual({ conflict: true });
  });
});
