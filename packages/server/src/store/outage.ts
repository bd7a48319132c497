/** Socket-level failures: the database host cannot be reached or dropped the connection. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** SQLite: the file is locked, cannot be opened, or the disk failed or is full. */
const SQLITE_CODES = /^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL|READONLY)/;
/** pg's own messages for a connection that ended or never came. */
const PG_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection timeout/i;

/**
 * True when an error means "the database is unavailable right now" (worth a 503 and a retry),
 * as opposed to a bug or a bad statement. Walks `cause` and AggregateError members.
 */
export function isDatabaseOutage(err: unknown, depth = 0): boolean {
  if (!(err instanceof Error) || depth > 5) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || SQLITE_CODES.test(code)) return true;
    // PostgreSQL classes 08 (connection exception) and 57P (operator intervention: shutdown, cannot connect now).
    if (/^(08|57P0[1-3])/.test(code)) return true;
  }
  if (PG_MESSAGES.test(err.message)) return true;
  if (err instanceof AggregateError && err.errors.some((e) => isDatabaseOutage(e, depth + 1))) return true;
  return isDatabaseOutage(err.cause, depth + 1);
}
