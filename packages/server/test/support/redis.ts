import { Redis } from 'ioredis';

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

/** A key prefix of its own per test (several helpers and CI files share one Redis). */
export function randomPrefix(): string {
  return `test:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}:`;
}

/** Deletes every key under the prefix (never FLUSHDB: the Redis is shared). */
export async function dropPrefix(prefix: string, url = TEST_REDIS_URL): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await client.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}
