import { ModelError, type ModelErrorCode } from '../provider.js';

/** What an upstream said about an error, whatever its dialect's body shape. */
export interface UpstreamErrorInfo {
  /** Provider's own error type/code, e.g. `context_length_exceeded`, `rate_limit_error`. */
  type?: string | undefined;
  message?: string | undefined;
}

const CONTEXT_LENGTH_RE = /context[_ ]length|maximum context|context window|prompt is too long|too many tokens|reduce the length/i;
const CONTENT_FILTER_RE = /content[_ ]?(filter|policy|management)|safety system|flagged|moderation/i;

/**
 * Classifies an upstream HTTP error status (with the dialect's parsed body) into a ModelError.
 * Retryable: 408, 409, 429 (unless the quota is exhausted), 5xx and 529.
 */
export function classifyHttpError(status: number, headers: Headers | Record<string, string | string[] | undefined>, info: UpstreamErrorInfo): ModelError {
  const detail = info.message ? `: ${info.message}` : '';
  const text = `${info.type ?? ''} ${info.message ?? ''}`;
  const retryAfterMs = parseRetryAfter(headers);
  const make = (code: ModelErrorCode, retryable?: boolean) =>
    new ModelError(code, `Provider answered ${status}${detail}`, {
      ...(retryable !== undefined ? { retryable } : {}),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });

  if (status === 401 || status === 403) return make('auth');
  if (status === 404) return make('invalid_model');
  if (status === 408) return make('timeout');
  if (status === 413) return make('context_length');
  if (status === 429) return make('rate_limited', !/insufficient_quota|billing/i.test(text));
  if (status >= 500) return make('upstream_error', true);
  if (status === 409) return make('upstream_error', true);
  if (CONTEXT_LENGTH_RE.test(text)) return make('context_length');
  if (CONTENT_FILTER_RE.test(text)) return make('content_filter');
  if (/not_found|model_not_found|does not exist|unknown model|invalid model/i.test(text)) return make('invalid_model');
  return make('upstream_error', false);
}

/** Errors of the socket or the HTTP client library (never an HTTP status). */
export function classifyNetworkError(err: unknown): ModelError {
  if (err instanceof ModelError) return err;
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  const code = e?.code ?? e?.cause?.code ?? '';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new ModelError('timeout', `The provider did not answer in time (${code}).`);
  }
  const what = code ? `${code}: ${e.message ?? ''}` : e?.message || String(err);
  return new ModelError('network', `The connection to the provider failed (${what.trim()}).`);
}

/** `retry-after-ms` (OpenAI) or `retry-after` in seconds or as an HTTP date, in ms. */
export function parseRetryAfter(headers: Headers | Record<string, string | string[] | undefined>, now = Date.now()): number | undefined {
  const get = (name: string): string | undefined => {
    if (headers instanceof Headers) return headers.get(name) ?? undefined;
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const ms = get('retry-after-ms');
  if (ms !== undefined && /^\s*\d+(\.\d+)?\s*$/.test(ms)) return Math.round(Number(ms));
  const raw = get('retry-after');
  if (raw === undefined) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(raw)) return Math.round(Number(raw) * 1000);
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
