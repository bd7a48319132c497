import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CATALOGUE, TributaryError, type ErrorCode } from '../errors.js';

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
export function installErrorHandling(app: FastifyInstance, fallback: { current?: NotFoundFallback } = {}): void {
  app.setErrorHandler((err: FastifyError | TributaryError, request, reply) => {
    const error = toTributaryError(err, request.log);
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    if (error.headers) reply.headers(error.headers);
    reply.code(error.status).send(error.toJSON());
  });

  app.setNotFoundHandler((request, reply) => {
    if (fallback.current?.(request, reply)) return;
    reply.code(404).send({ code: 'not_found', message: `${ERROR_CATALOGUE.not_found.message} ${request.method} ${request.url}` });
  });
}

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
  log.error({ err }, 'unhandled error');
  return new TributaryError('internal_error');
}
