import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { connectRedis, type RedisConnection } from '../../src/store/redis.js';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Whether the test Redis answers. In CI its absence is a failure; locally Redis variants are skipped loudly. */
export async function redisAvailable(url = TEST_REDIS_URL): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch (err) {
    if (process.env.CI) throw new Error(`Redis is required in CI at ${url}: ${(err as Error).message}`);
    console.warn(`\n!!! Redis not reachable at ${url}: Redis tests SKIPPED (${(err as Error).message})\n`);
    return false;
  } finally {
    client.disconnect();
  }
}

/** A key prefix of its own per test, so tests sharing one Redis never see each other's keys. */
export function randomPrefix(): string {
  return `t:${randomBytes(6).toString('hex')}:`;
}

/** Deletes every key under `prefix` (never FLUSHDB: other suites share the server). */
export async function dropPrefix(prefix: string, url = TEST_REDIS_URL): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
      cursor = next;
      if (keys.length > 0) await client.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

/** A connection of the server's own kind under a fresh prefix; `close` also deletes what it wrote. */
export async function openRedis(): Promise<{ redis: RedisConnection; prefix: string; close(): Promise<void> }> {
  const prefix = randomPrefix();
  const redis = await connectRedis(TEST_REDIS_URL, prefix, 3_000);
  return {
    redis,
    prefix,
    async close() {
      await redis.close();
      await dropPrefix(prefix);
    },
  };
}
