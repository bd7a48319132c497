import type { FastifyRequest } from 'fastify';
import { TributaryError } from '../errors.js';
import { parseEventId, type EventId } from '../streams/event-id.js';
import { RESUME_QUERY } from './schemas.js';

const QUERY_NAMES = Object.keys(RESUME_QUERY);

/** The resume position a request carries (header first, then query), or undefined. */
export function lastEventIdOf(request: FastifyRequest): EventId | undefined {
  const header = request.headers['last-event-id'];
  const query = request.query as Record<string, unknown> | undefined;
  let raw: unknown = Array.isArray(header) ? header[0] : header;
  if (raw === undefined || raw === '') raw = QUERY_NAMES.map((n) => query?.[n]).find((v) => v !== undefined && v !== '');
  if (raw === undefined || raw === '') return undefined;
  const parsed = typeof raw === 'string' ? parseEventId(raw) : null;
  if (!parsed)
    throw new TributaryError('invalid_last_event_id', `Last-Event-ID ${JSON.stringify(String(raw)).slice(0, 120)} is not a position this server issued.`);
  return parsed;
}
