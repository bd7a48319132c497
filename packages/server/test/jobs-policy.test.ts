import { describe, expect, it } from 'vitest';
import { finalStatus, progressOf } from '../src/jobs/job-runner.js';
import { backoffMs, itemError, shouldRetry } from '../src/jobs/retry-policy.js';

const opts = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1_000 };
const counts = (c: Partial<Record<'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled', number>>) => ({
  queued: 0,
  running: 0,
  succeeded: 0,
  failed: 0,
  cancelled: 0,
  ...c,
});

describe('job retry policy', () => {
  it('backs off exponentially with jitter in [ceiling/2, ceiling], capped, and never before retry_after', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffMs(a, opts, undefined, () => 1))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect([1, 2, 3].map((a) => backoffMs(a, opts, undefined, () => 0))).toEqual([50, 100, 200]);
    for (let i = 0; i < 200; i++) {
      const d = backoffMs(3, opts, undefined);
      expect(d).toBeGreaterThanOrEqual(200);
      expect(d).toBeLessThanOrEqual(400);
    }
    expect(backoffMs(1, opts, 2_000, () => 1)).toBe(2_000); // the provider's Retry-After wins
    expect(backoffMs(4, opts, 10, () => 1)).toBe(800);
  });

  it('retries only retryable errors, up to the attempt limit; final errors carry a suggested action', () => {
    expect(shouldRetry({ code: 'rate_limited', retryable: true }, 1, opts)).toBe(true);
    expect(shouldRetry({ code: 'rate_limited', retryable: true }, 4, opts)).toBe(false);
    expect(shouldRetry({ code: 'auth', retryable: false }, 1, opts)).toBe(false);
    expect(shouldRetry({ code: 'cancelled', retryable: true }, 1, opts)).toBe(false);
    expect(itemError({ code: 'auth', message: 'no', retryable: false }, true).suggestedAction).toMatch(/API key/);
    expect(itemError({ code: 'rate_limited', message: 'slow down', retryable: true }, false).suggestedAction).toBeNull();
    expect(itemError({ code: 'cancelled', message: '', retryable: false }, true).suggestedAction).toBeNull();
  });

  it('progress counts finished items, ETA from the observed rate; the final state follows the counts', () => {
    expect(progressOf(counts({ succeeded: 30, failed: 10, queued: 60 }), 100, { finished: 40, elapsedMs: 4_000 })).toEqual({
      completed: 30,
      failed: 10,
      cancelled: 0,
      total: 100,
      percent: 40,
      etaMs: 6_000,
    });
    expect(progressOf(counts({ queued: 3 }), 3).etaMs).toBeNull();
    expect(progressOf(counts({ succeeded: 3 }), 3)).toMatchObject({ percent: 100, etaMs: 0 });
    expect(finalStatus(counts({ succeeded: 3 }))).toBe('succeeded');
    expect(finalStatus(counts({ succeeded: 2, failed: 1 }))).toBe('failed');
    expect(finalStatus(counts({ succeeded: 2, cancelled: 1 }))).toBe('cancelled');
  });
});
