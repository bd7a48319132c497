import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DbLimitStore, type LimitStore } from '../src/identity/limit-store.js';
import { MemoryLimitStore } from '../src/identity/limit-store-memory.js';
import { openStore } from '../src/store/open-store.js';
import { RedisLimitStore } from '../src/identity/limit-store-redis.js';
import { DATABASES, dropDatabase, opensEach } from './support/backends.js';
import { openRedis, redisAvailable } from './support/redis.js';

const redisUp = await redisAvailable();

/** The LimitStore contract, run against every implementation. */
const IMPLEMENTATIONS = [
  { name: 'memory', enabled: true, open: async () => ({ counters: new MemoryLimitStore() as LimitStore, close: async () => undefined }) },
  ...DATABASES.map((d) => ({
    name: `database (${d.name})`,
    enabled: d.enabled,
    open: async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'limits-'));
      const db = d.database();
      const store = await openStore({ dataDir, databaseUrl: db.url, schema: db.schema, flushIntervalMs: 50, batchSize: 100 });
      return {
        counters: new DbLimitStore(store.db) as LimitStore,
        close: async () => {
          await store.close();
          await dropDatabase(db);
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    },
  })),
  {
    name: 'redis',
    enabled: redisUp,
    open: async () => {
      const { redis, prefix, close } = await openRedis();
      return { counters: new RedisLimitStore(redis.client, prefix) as LimitStore, close };
    },
  },
];

const END = Date.now() + 60_000;

describe.each(IMPLEMENTATIONS)('LimitStore contract: $name', ({ open, enabled }) => {
  const start = opensEach(open, (o) => o.counters);

  it.runIf(enabled)('charges every counter or none, and says which one lacked room', async () => {
    const c = await start();
    expect(
      await c.consume([
        { bucket: 'a:x:1', amount: 2, limit: 3, windowEnd: END },
        { bucket: 'b:x:1', amount: 1, limit: 3, windowEnd: END },
      ]),
    ).toEqual({ allowed: true, counts: [2, 1] });
    expect(
      await c.consume([
        { bucket: 'b:x:1', amount: 1, limit: 3, windowEnd: END },
        { bucket: 'a:x:1', amount: 2, limit: 3, windowEnd: END },
      ]),
    ).toEqual({ allowed: false, index: 1, count: 2 });
    expect(await c.get(['a:x:1', 'b:x:1', 'none'])).toEqual([2, 1, 0]);
  });

  it.runIf(enabled)('a charge larger than its limit is refused at once (and never hangs)', async () => {
    const c = await start();
    const result = await Promise.race([
      c.consume([{ bucket: 'big:x:1', amount: 4, limit: 3, windowEnd: END }]),
      new Promise((resolve) => setTimeout(() => resolve('hung'), 5_000)),
    ]);
    expect(result).toEqual({ allowed: false, index: 0, count: 0 });
  });

  it.runIf(enabled)('an infinite limit charges unconditionally; negative amounts give back', async () => {
    const c = await start();
    await c.consume([{ bucket: 't:x:1', amount: 1_000, limit: Infinity, windowEnd: END }]);
    expect(await c.consume([{ bucket: 't:x:1', amount: -400, limit: Infinity, windowEnd: END }])).toEqual({ allowed: true, counts: [600] });
    // Zero with a cap checks room without spending (the tokens-per-day admission).
    expect((await c.consume([{ bucket: 't:x:1', amount: 0, limit: 599, windowEnd: END }])).allowed).toBe(false);
    expect((await c.consume([{ bucket: 't:x:1', amount: 0, limit: 600, windowEnd: END }])).allowed).toBe(true);
  });

  it.runIf(enabled)('20 parallel charges cannot overshoot', async () => {
    const c = await start();
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        c.consume([
          { bucket: 'ip:p:responses:d', amount: 1, limit: 5, windowEnd: END },
          { bucket: 'fp:p:responses:d', amount: 1, limit: 7, windowEnd: END },
        ]),
      ),
    );
    expect(results.filter((r) => r.allowed)).toHaveLength(5);
    expect(await c.get(['ip:p:responses:d', 'fp:p:responses:d'])).toEqual([5, 5]);
  });

  it.runIf(enabled)("purge drops ended windows; forget drops a subject's counters and only its own", async () => {
    const c = await start();
    await c.consume([
      { bucket: 'old:x:1', amount: 1, limit: 9, windowEnd: Date.now() - 1 },
      { bucket: 'user:usr_a:responses:d1', amount: 1, limit: 9, windowEnd: END },
      { bucket: 'user:usrXa:responses:d1', amount: 1, limit: 9, windowEnd: END }, // `_` is not a wildcard
      { bucket: 'user:usr_ab:responses:d1', amount: 1, limit: 9, windowEnd: END },
    ]);
    expect(await c.purge(Date.now())).toBe(1);
    await c.forget('usr_a');
    expect(await c.get(['old:x:1', 'user:usr_a:responses:d1', 'user:usrXa:responses:d1', 'user:usr_ab:responses:d1'])).toEqual([0, 0, 1, 1]);
  });
});
