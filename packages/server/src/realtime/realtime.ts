import type { Config } from '../config/schema.js';
import type { StreamHub } from '../streams/hub.js';
import type { ChannelAccess } from './access.js';
import { RealtimeAuth, type AuthOptions } from './auth.js';
import { RealtimeMetrics } from './metrics.js';
import { RedisIdempotencyStore } from './idempotency-redis.js';
import { PublishService } from './publish-service.js';
import type { Redis } from 'ioredis';

/** The realtime hub's services: who may read what, publishing, counters. */
export interface Realtime {
  auth: RealtimeAuth;
  metrics: RealtimeMetrics;
  publisher: PublishService;
  access: ChannelAccess;
  config: Config['realtime'];
}

export function createRealtime(
  config: Config['realtime'],
  hub: StreamHub,
  checks: Pick<AuthOptions, 'resolveCredential' | 'mayReadJob'> = {},
  /** A cluster's Redis: idempotency keys of publish are shared there. */
  redis?: { client: Redis; prefix: string },
): Realtime {
  const auth = new RealtimeAuth({ tokenSecret: config.tokenSecret, publishKey: config.publishKey, anonymousPublic: config.anonymousPublic, ...checks });
  const metrics = new RealtimeMetrics(hub);
  const publisher = new PublishService(
    hub,
    metrics,
    {
      maxEventBytes: config.maxEventBytes,
      maxBatch: config.maxBatch,
      idempotencyTtlMs: config.idempotencyTtlSeconds * 1000,
      idempotencyMaxKeys: config.idempotencyMaxKeys,
    },
    redis ? new RedisIdempotencyStore(redis.client, redis.prefix, config.idempotencyTtlSeconds * 1000) : undefined,
  );
  return { auth, metrics, publisher, access: { hub, auth, metrics, maxChannels: config.maxChannelsPerConnection }, config };
}
