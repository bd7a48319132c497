import type { FastifyRequest } from 'fastify';
import { ownerOf } from '../identity/types.js';
import type { Requester } from '../jobs/job-service.js';
import type { AppContext } from './context.js';
import { authorize } from './identity.js';

/**
 * The owner a request acts as (the one place identity plugs into jobs): a user, or the user of
 * a `compare`-scoped key, owns the jobs it creates and alone sees them; anonymous jobs are
 * reached by their unguessable id. A presented but invalid credential is refused (401).
 */
export async function requesterOf(request: FastifyRequest, ctx: AppContext): Promise<Requester> {
  return ownerOf(await authorize(request, ctx, 'compare')) ?? undefined;
}
