export { SseParser, type SseMessage } from './sse-parser.js';
export {
  TributaryClient,
  TributaryApiError,
  readSse,
  type ClientOptions,
  type ComparisonEvent,
  type StartComparison,
  type Tier,
  type ModelInfo,
  type TierLimits,
  type ClientConfig,
  type ModelResult,
  type ComparisonRecord,
  type ComparisonSnapshot,
  type ConversationMessage,
  type WholeComparison,
} from './comparisons.js';
export { CLOSE_ROLLOUT_EXCLUDED, RealtimeClient, type RealtimeOptions, type RealtimeSubscription, type SubscribeOptions } from './realtime/client.js';
export { Backoff, type BackoffOptions } from './realtime/backoff.js';
export type { ChannelEvent, ConnectionState, Position, Recovery, TransportName, WebSocketConstructor, WebSocketLike } from './realtime/types.js';
