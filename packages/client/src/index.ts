export { SseParser, type SseMessage } from './sse-parser.js';
export {
  TributaryClient, TributaryApiError, readSse,
  type ClientOptions, type ComparisonEvent, type StartComparison, type Tier,
} from './comparisons.js';
