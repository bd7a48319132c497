// Redis failures as the rest of the server sees them, apart from ioredis itself so a single node never loads it.

/** A start that gave up on Redis: the CLI says it in one line. */
export class RedisUnreachableError extends Error {
  constructor(url: string, cause: unknown) {
    super(`Redis at ${url} is unreachable (${cause instanceof Error ? cause.message : String(cause)}).`, { cause });
    this.name = 'RedisUnreachableError';
  }
}

/** ioredis' own messages for a connection that is down, closed, or too slow to answer. */
const REDIS_MESSAGES =
  /enableOfflineQueue|Connection is closed|Command timed out|Reached the max retries per request|Stream isn't writeable|ECONNREFUSED|ECONNRESET|LOADING|MASTERDOWN/;

/** True when an error means "Redis is unavailable right now" (a 503 and a retry), not a bug. */
export function isRedisOutage(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError') return true;
  const code = (err as { code?: unknown }).code;
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT') return true;
  return REDIS_MESSAGES.test(err.message);
}
