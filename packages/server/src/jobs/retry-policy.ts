import type { ItemError } from './types.js';

/** What an operator can do about a failure that retrying will not fix, by error code. */
const SUGGESTED_ACTION: Record<string, string> = {
  invalid_model: 'Check the model id against GET /v1/models; the provider does not serve it.',
  auth: 'Check the provider API key in the server configuration.',
  content_filter: 'The provider refused this prompt; rephrase it or use another model.',
  context_length: 'Shorten the prompt or system text, or pick a model with a longer context.',
  rate_limited: 'The provider kept rate limiting; retry the job later or lower its concurrency.',
  timeout: 'The provider kept timing out; retry later or raise the provider timeouts.',
  upstream_error: 'The provider kept failing; retry the job later.',
  network: 'The provider could not be reached; check connectivity and retry.',
};

export interface RetryOptions {
  /** Provider calls per item before its failure is final. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** The error an item stores: its classification and, when retrying is over, a suggested action. */
export function itemError(e: { code: string; message: string; retryable: boolean }, final: boolean): ItemError {
  return {
    code: e.code,
    message: e.message,
    retryable: e.retryable,
    suggestedAction: final && e.code !== 'cancelled' ? (SUGGESTED_ACTION[e.code] ?? 'Inspect the error message and retry the item.') : null,
  };
}

/**
 * Delay before the next attempt: exponential backoff with full jitter, never sooner than the
 * provider's `retry_after`. `attempt` is the number of calls made so far (1 after the first).
 */
export function backoffMs(attempt: number, opts: RetryOptions, retryAfterMs: number | undefined, random = Math.random): number {
  const ceiling = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** (attempt - 1));
  const jittered = Math.round(ceiling / 2 + random() * (ceiling / 2));
  return Math.max(jittered, retryAfterMs ?? 0);
}

export function shouldRetry(e: { retryable: boolean; code: string }, attempts: number, opts: RetryOptions): boolean {
  return e.retryable && e.code !== 'cancelled' && attempts < opts.maxAttempts;
}
