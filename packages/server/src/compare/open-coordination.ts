import type { Config } from '../config/schema.js';
import { LocalCoordination, type ComparisonCoordination } from './coordination.js';
import { RedisCoordination } from './redis-coordination.js';

/** Redis when `redis.url` is set (comparisons shared by every node), else this node alone. */
export function openCoordination(config: Config, onError: (err: Error) => void): ComparisonCoordination {
  if (!config.redis.url) return new LocalCoordination();
  return new RedisCoordination({ url: config.redis.url, keyPrefix: config.redis.keyPrefix, leaseMs: config.compare.leaseMs, onError });
}
