import type { Config } from '../config/schema.js';
import { MemoryBackend } from './memory-backend.js';
import type { StreamBackend } from './types.js';

/** Redis when `redis.url` is set (every node shares the log), else memory (one node). */
export async function openStreamBackend(config: Config, onError: (err: Error) => void): Promise<StreamBackend> {
  const { history } = config.streams;
  const policy = () => ({ size: history.size, ttlMs: history.ttlSeconds * 1000 });
  if (!config.redis.url) return new MemoryBackend(policy, { maxTotalEvents: config.streams.maxEventsTotal });
  // Loaded only for a cluster: ioredis is a large part of start-up time.
  const { RedisBackend } = await import('./redis-backend.js');
  const backend = new RedisBackend(policy, { url: config.redis.url, keyPrefix: config.redis.keyPrefix, onError });
  // A node may start while Redis is away: it answers 503 (and /ready says so) until Redis is back.
  if (!(await backend.connect(config.durability.startupRetryMs))) onError(new Error(`Redis at ${config.redis.url} did not answer; serving 503 until it does`));
  return backend;
}
