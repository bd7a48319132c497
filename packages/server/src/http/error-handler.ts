import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CATALOGUE, TributaryError, type ErrorCode } from '../errors.js';
import { isDatabaseOutage } from '../store/outage.js';
import { isRedisOutage } from '../store/redis-errors.js';

/** Fastify's own errors, mapped onto the catalogue. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_json',
};

/** Answers a request no route matched, instead of the JSON 404 (the web app's page fallback); true if it did. */
export type NotFoundFallback = (request: FastifyRequest, reply: FastifyReply) => boolean;

/** Every error leaves as `{ code, message, ...details }` with the catalogue's status. */
export function installErrorHandling(app: FastifyInstance, fallback: { current?: NotFoundFallback } = {}, opts: ErrorHandlerOptions = {}): void {
  app.setErrorHandler(errorHandler((error) => error.toJSON(), opts));

  app.setNotFoundHandler((request, reply) => {
    if (fallback.current?.(request, reply)) return;
    reply.code(404).send({ code: 'not_found', message: `${ERROR_CATALOGUE.not_found.message} ${request.method} ${request.url}` });
  });
}

/** An error body's shape; the seed routes add FastAPI's `detail` (see `seedErrorBody`). */
export type ErrorBody = (error: TributaryError) => Record<string, unknown>;

export interface ErrorHandlerOptions {
  /** Retry-After of a 503 `unavailable` whose cause did not name one (a database outage). */
  retryAfterSeconds?: number;
}

/** A Fastify error handler answering with the catalogue's status and `body(error)`. */
export function errorHandler(body: ErrorBody, opts: ErrorHandlerOptions = {}) {
  return (err: FastifyError | TributaryError, request: FastifyRequest, reply: FastifyReply) => {
    const error = toTributaryError(err, request.log);
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    if (error.headers) reply.headers(error.headers);
    const retryAfter =
      error.details?.retryAfterSeconds ?? (error.code === 'unavailable' || error.code === 'dependency_unavailable' ? opts.retryAfterSeconds : undefined);
    if (typeof retryAfter === 'number' && !reply.hasHeader('Retry-After')) reply.header('Retry-After', String(retryAfter));
    reply.code(error.status).send(body(error));
  };
}

/** Clients of the replaced FastAPI systems show `detail`; ours read `code` and `message`. */
export const seedErrorBody: ErrorBody = (error) => ({ ...error.toJSON(), detail: error.message });

/** Maps any error (ours, Fastify's body parsing, a bug) onto the catalogue; bugs are logged. */
export function toTributaryError(err: FastifyError | TributaryError, log: FastifyBaseLogger): TributaryError {
  if (err instanceof TributaryError) return err;
  if (err.code && FASTIFY_CODES[err.code]) {
    const code = FASTIFY_CODES[err.code]!;
    return new TributaryError(code, code === 'invalid_json' ? `The request body is not valid JSON: ${err.message}` : undefined);
  }
  if ((err as SyntaxError).name === 'SyntaxError' && err.statusCode === 400) {
    return new TributaryError('invalid_json', `The request body is not valid JSON: ${err.message}`);
  }
  if (isDatabaseOutage(err)) {
    log.warn({ err: { code: (err as { code?: string }).code, message: err.message } }, 'database unavailable');
    return new TributaryError('unavailable', 'The database is unavailable; retry later.', { dependency: 'database' });
  }
  if (isRedisOutage(err)) {
    log.warn({ err: { message: err.message } }, 'redis unavailable');
    return new TributaryError('dependency_unavailable', 'Redis is unavailable; retry later.', { dependency: 'redis' });
  }
  log.error({ err }, 'unhandled error');
  return new TributaryError('internal_error');
}
