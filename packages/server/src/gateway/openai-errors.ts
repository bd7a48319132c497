import { ERROR_CATALOGUE, TributaryError, isErrorCode, type ErrorCode } from '../errors.js';
import { ModelError } from '../llm/provider.js';

export interface OpenAIErrorReply {
  status: number;
  body: { error: { message: string; type: string; param: string | null; code: ErrorCode } };
  /** Seconds for a `Retry-After` header, when the upstream said. */
  retryAfterSeconds?: number;
  /** Headers the error carries (a quota's Retry-After and RateLimit-*). */
  headers?: Record<string, string>;
}

/** Statuses that differ from the catalogue's, to match what OpenAI clients expect. */
const OPENAI_STATUS: Partial<Record<ErrorCode, number>> = { invalid_model: 404 };

/**
 * Any error in OpenAI's shape (`{"error":{message,type,param,code}}`), so the `openai` SDK
 * raises the matching APIError subclass. `code` is Tributary's stable catalogue code.
 */
export function toOpenAIError(err: unknown): OpenAIErrorReply {
  const error = asTributaryError(err);
  const status = OPENAI_STATUS[error.code] ?? ERROR_CATALOGUE[error.code].status;
  const param = paramOf(error.details);
  const retryAfterMs = error instanceof ModelError ? error.retryAfterMs : undefined;
  return {
    status,
    body: { error: { message: error.message, type: errorType(status), param, code: error.code } },
    ...(retryAfterMs !== undefined ? { retryAfterSeconds: Math.ceil(retryAfterMs / 1000) } : {}),
    ...(error.headers ? { headers: error.headers } : {}),
  };
}

/** The field an error is about, as OpenAI's `param`: ours say `param`, `field` or (unknown fields) `fields`. */
function paramOf(details: Record<string, unknown> | undefined): string | null {
  const candidate = details?.param ?? details?.field ?? (Array.isArray(details?.fields) ? details.fields[0] : undefined);
  return typeof candidate === 'string' ? candidate : null;
}

function asTributaryError(err: unknown): TributaryError {
  if (err instanceof TributaryError) return err;
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && isErrorCode(code)) return new TributaryError(code, (err as Error).message);
  return new TributaryError('internal_error');
}

function errorType(status: number): string {
  if (status === 401 || status === 403) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}
