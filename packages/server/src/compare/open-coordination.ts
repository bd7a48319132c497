import type { Config } from '../config/schema.js';
import { LocalCoordination, type ComparisonCoordination } from './coordination.js';

/** Redis when `redis.url` is set (comparisons shared by every node), else this node alone. */
export async function openCoordination(config: Config, onError: (err: Error) => void): Promise<ComparisonCoordination> {
  if (!config.redis.url) return new LocalCoordination();
  const { RedisCoordination } = await import('./redis-coordination.js'); // only a cluster loads ioredis
  return new RedisCoordination({ url: config.redis.url, keyPrefix: config.redis.keyPrefix, leaseMs: config.compare.leaseMs, onError });
}
