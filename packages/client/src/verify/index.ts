export { verify, parseThresholds, CHECKS } from './run.js';
export { renderText, renderMarkdown, checkLine } from './render.js';
export { percentiles } from './stats.js';
export {
  DEFAULT_THRESHOLDS,
  type Bound,
  type CheckResult,
  type CheckStatus,
  type LoadSummary,
  type Percentiles,
  type Profile,
  type Report,
  type Thresholds,
  type VerifyOptions,
} from './types.js';
