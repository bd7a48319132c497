import { ModelError } from '../provider.js';

export interface RetryPolicy {
  /** Further attempts after the first; only before the first token and only for retryable errors. */
  maxRetries: number;
  baseDelayMs: number;
  /** Longest wait between attempts; an upstream `Retry-After` above it ends the retries. */
  maxDelayMs: number;
}

/**
 * Wait before attempt `attempt + 1` (attempt counts from 0), or undefined to give up.
 * Exponential with equal jitter; an upstream `Retry-After` is obeyed exactly.
 */
export function retryDelayMs(attempt: number, error: ModelError, policy: RetryPolicy, random = Math.random): number | undefined {
  if (!error.retryable || attempt >= policy.maxRetries) return undefined;
  if (error.retryAfterMs !== undefined) return error.retryAfterMs <= policy.maxDelayMs ? error.retryAfterMs : undefined;
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return ceiling / 2 + random() * (ceiling / 2);
}

/** Resolves after `ms`; rejects with `cancelled` as soon as the signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new ModelError('cancelled'));
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    function onAbort(): void {
      clearTimeout(timer);
      reject(new ModelError('cancelled'));
    }
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
