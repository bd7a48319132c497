import type { ComparisonService } from '../compare/comparison-service.js';
import type { Config } from '../config/schema.js';
import type { ModelCatalogue } from '../llm/catalogue.js';
import type { ChatCompletions } from '../gateway/chat-completions.js';
import type { Flags } from '../ops/flags.js';
import type { FlagService } from '../ops/flag-service.js';
import type { RequestLike } from '../ops/identity-key.js';
import type { OpsMetrics } from '../ops/metrics.js';
import type { Alerts } from '../ops/alerts.js';
import type { OpsSignals } from '../ops/signals.js';
import type { Realtime } from '../realtime/realtime.js';
import type { StreamHub } from '../streams/hub.js';
import type { Store } from '../store/types.js';
import type { ComparisonStreamDeps } from './comparison-stream.js';

/** What routes may use: the app's services, nothing of each other. */
export interface AppContext {
  config: Config;
  hub: StreamHub;
  comparisons: ComparisonService;
  catalogue: ModelCatalogue;
  store: Store;
  flags: Flags;
  stream: ComparisonStreamDeps;
  realtime: Realtime;
  gateway: ChatCompletions;
  startedAt: Date;
  /** Metrics (undefined when `ops.metricsEnabled` is off), runtime flags, alerts. */
  ops: {
    metrics: OpsMetrics | undefined;
    /** Recent history of the streams (fed by metrics) for alerts and the dashboard. */
    signals: OpsSignals;
    alerts: Alerts;
    flagService: FlagService;
    /** The identity flags bucket by (identity refines `identityKeyOf`). */
    identityKeyOf(request: RequestLike): string;
  };
}
