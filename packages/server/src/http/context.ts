import type { ComparisonService } from '../compare/comparison-service.js';
import type { Config } from '../config/schema.js';
import type { ModelCatalogue } from '../llm/catalogue.js';
import type { ChatCompletions } from '../gateway/chat-completions.js';
import type { Responses } from '../gateway/responses.js';
import type { Flags } from '../ops/flags.js';
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
  responses: Responses;
  startedAt: Date;
}
