/**
 * `npm run bench limit-stores`: what one admission (two counters checked and charged at once,
 * as a request's per-minute and per-day limits are) costs in each shared LimitStore: Redis (one
 * Lua script) and PostgreSQL (one transaction of conditional upserts). Sequential latency and
 * throughput with 32 admissions in flight. Needs REDIS_URL / DATABASE_URL (defaults: local).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { RedisLimitStore } from '../packages/server/dist/identity/limit-store-redis.js';
import { DbLimitStore } from '../packages/server/dist/identity/limit-store.js';
import { connectRedis } from '../packages/server/dist/store/redis.js';
import { openStore } from '../packages/server/dist/store/open-store.js';

export const name = 'limit-stores';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = 3_000;
const IN_FLIGHT = 32;

async function measure(counters) {
  const end = Date.now() + 3_600_000;
  const charges = (i) => [
    { bucket: `ip:10.0.0.${i % 50}:requests:m1`, amount: 1, limit: 1e9, windowEnd: end },
    { bucket: `ip:10.0.0.${i % 50}:responses:d1`, amount: 1, limit: 1e9, windowEnd: end },
  ];
  for (let i = 0; i < 200; i++) await counters.consume(charges(i)); // warm-up
  let t = performance.now();
  for (let i = 0; i < N; i++) await counters.consume(charges(i));
  const sequentialMs = (performance.now() - t) / N;
  t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < N) await counters.consume(charges(next++));
    }),
  );
  return { sequentialMsPerAdmission: Number(sequentialMs.toFixed(3)), admissionsPerSecond: Math.round(N / ((performance.now() - t) / 1000)) };
}

export async function run({ cleanup, resultsDir }) {
  const prefix = `bench:limits:${Date.now()}:`;
  const redis = await connectRedis(REDIS_URL, prefix, 5_000);
  cleanup.add(async () => {
    let cursor = '0';
    do {
      const [next, keys] = await redis.client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
      if (keys.length > 0) await redis.client.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    await redis.close();
  });
  const result = { n: N, inFlight: IN_FLIGHT, redis: await measure(new RedisLimitStore(redis.client, prefix)) };

  const schema = `bench_limits_${Date.now()}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-limits-'));
  const store = await openStore({ dataDir, databaseUrl: DATABASE_URL, schema, flushIntervalMs: 50, batchSize: 100 });
  cleanup.add(async () => {
    await store.close();
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
    rmSync(dataDir, { recursive: true, force: true });
  });
  result.postgres = await measure(new DbLimitStore(store.db));

  for (const [store, r] of [
    ['redis', result.redis],
    ['postgres', result.postgres],
  ]) {
    console.log(`[limit-stores] ${store}: ${r.sequentialMsPerAdmission} ms per admission, ${r.admissionsPerSecond} admissions/s with ${IN_FLIGHT} in flight`);
  }
  writeFileSync(join(resultsDir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
}
