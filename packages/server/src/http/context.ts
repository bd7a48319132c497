import type { ComparisonService } from '../compare/comparison-service.js';
import type { Config } from '../config/schema.js';
import type { ModelCatalogue } from '../llm/catalogue.js';
import type { ChatCompletions } from '../gateway/chat-completions.js';
import type { Responses } from '../gateway/responses.js';
import type { Flags } from '../ops/flags.js';
import type { Ops } from '../ops/ops.js';
import type { Identity } from '../identity/identity.js';
import type { Realtime } from '../realtime/realtime.js';
import type { StreamHub } from '../streams/hub.js';
import type { Store } from '../store/types.js';
import type { RedisConnection } from '../store/redis.js';
import type { ComparisonStreamDeps } from './comparison-stream.js';
import type { JobService } from '../jobs/job-service.js';
import type { JobStreamDeps } from './job-stream.js';

/** What routes may use: the app's services, nothing of each other. */
export interface AppContext {
  config: Config;
  hub: StreamHub;
  comparisons: ComparisonService;
  catalogue: ModelCatalogue;
  store: Store;
  /** Set when `redis.url` is: the cluster's shared state lives there. */
  redis: RedisConnection | undefined;
  flags: Flags;
  stream: ComparisonStreamDeps;
  realtime: Realtime;
  gateway: ChatCompletions;
  identity: Identity;
  jobs: JobService;
  jobStream: JobStreamDeps;
  responses: Responses;
  startedAt: Date;
  /** Metrics (undefined when `ops.metricsEnabled` is off), runtime flags, alerts. */
  ops: Ops;
}
