import type { FastifyRequest } from 'fastify';
import type { Requester } from '../jobs/job-service.js';

/**
 * The owner a request acts as. The one place identity plugs in: until users and API keys
 * land every caller is anonymous, and anonymous jobs are reached by their unguessable id.
 */
export function requesterOf(_request: FastifyRequest): Requester {
  return undefined;
}
