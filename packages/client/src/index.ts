export { SseParser, type SseMessage } from './sse-parser.js';
export {
  TributaryClient, TributaryApiError, readSse,
  type ClientOptions, type ComparisonEvent, type StartComparison, type Tier,
  type ModelInfo, type TierLimits, type ClientConfig, type ModelResult, type ComparisonRecord,
  type ComparisonSnapshot, type ConversationMessage, type WholeComparison,
} from './comparisons.js';
