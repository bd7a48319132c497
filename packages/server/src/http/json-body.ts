import type { FastifyInstance } from 'fastify';
import { parseJson, type JsonLimits } from '../input/json.js';

/**
 * The only body parser: JSON, with the input limits checked over the raw text before parsing.
 * Fastify's default text/plain parser is removed, so any other media type is 415.
 */
export function installJsonBodyParser(app: FastifyInstance, limits: JsonLimits): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (text === '') {
      const err = Object.assign(new Error("Body cannot be empty when content-type is set to 'application/json'"), {
        code: 'FST_ERR_CTP_EMPTY_JSON_BODY',
        statusCode: 400,
      });
      return done(err, undefined);
    }
    try {
      done(null, parseJson(text, limits));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}
