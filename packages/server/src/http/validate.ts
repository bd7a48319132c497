import type { FastifyBaseLogger } from 'fastify';
import type { z } from 'zod';
import { TributaryError } from '../errors.js';

/** Parses input with a schema; the first problem becomes a coded 400 naming the field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, where = 'body'): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const fields = issue.keys.map((k) => (path ? `${path}.${k}` : k));
    throw new TributaryError('unknown_field', `Unknown field${fields.length > 1 ? 's' : ''} in ${where}: ${fields.join(', ')}.`, { fields });
  }
  const field = path || where;
  throw new TributaryError('invalid_field', `${field}: ${issue.message}`, { field });
}

/**
 * For the seed routes: fields the schema does not name are dropped (existing clients send
 * their own), and logged at debug so an operator can see what a client sends.
 */
export function parseLenient<S extends z.ZodObject>(schema: S, input: unknown, log: FastifyBaseLogger, where = 'body'): z.output<S> {
  if (input !== null && typeof input === 'object' && !Array.isArray(input)) {
    const ignored = Object.keys(input).filter((k) => !Object.hasOwn(schema.shape, k));
    if (ignored.length > 0) log.debug({ ignored, where }, 'seed route: ignored unknown fields');
  }
  return parseInput(schema, input, where);
}
