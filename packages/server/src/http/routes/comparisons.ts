import type { FastifyInstance } from 'fastify';
import { TributaryError } from '../../errors.js';
import { comparisonIdOf } from '../../compare/events.js';
import { nativeFrames } from '../../transports/comparison-frames.js';
import type { AppContext } from '../context.js';
import { streamComparison } from '../comparison-stream.js';
import { ownerOf } from '../../identity/types.js';
import { admitModels, assertComparisonOwner, assertConversationOwner, callerOf, countTokens } from '../identity.js';
import { lastEventIdOf } from '../last-event-id.js';
import { comparisonBody, deleteQuery, idParams, listQuery, streamQuery } from '../schemas.js';
import { parseInput } from '../validate.js';

/** The native comparison API under /v1. */
export function comparisonRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post('/v1/comparisons', async (request, reply) => {
    const body = parseInput(comparisonBody, request.body);
    const handle = await admitModels(request, reply, ctx, { scope: 'compare', models: body.models, tier: body.tier }, async (caller) => {
      await assertConversationOwner(request, ctx, body.conversationId);
      const started = await ctx.comparisons.start({
        kind: 'compare', prompt: body.prompt, models: body.models, tier: body.tier, conversationId: body.conversationId,
        history: body.history?.map((m) => ({ role: m.role, content: m.content, modelId: m.model ?? null })),
        owner: ownerOf(caller), keyId: caller.kind === 'key' ? caller.keyId : null,
      });
      countTokens(request, ctx, caller, started.done);
      return started;
    });
    if (wantsEventStream(request.headers.accept)) {
      return streamComparison(ctx.stream, reply, { id: handle.id, conversationId: handle.conversationId, start: { from: 'start' }, frames: nativeFrames });
    }
    reply.code(201).header('X-Comparison-Id', handle.id).header('X-Conversation-Id', handle.conversationId);
    return { id: handle.id, conversationId: handle.conversationId, streamUrl: `/v1/comparisons/${handle.id}/stream` };
  });

  app.get('/v1/comparisons', async (request) => {
    const query = parseInput(listQuery, request.query, 'query');
    // Callers see their own comparisons; anonymous callers the anonymous ones.
    const items = await ctx.store.listComparisons({ ...query, owner: ownerOf(await callerOf(request, ctx)) });
    return { comparisons: items };
  });

  app.get('/v1/comparisons/:id', async (request) => {
    const { id } = parseInput(idParams, request.params, 'path');
    await assertComparisonOwner(request, ctx, id);
    const snapshot = await ctx.comparisons.snapshot(id);
    if (!snapshot) throw new TributaryError('comparison_not_found', `No comparison ${id}.`);
    return snapshot;
  });

  app.get('/v1/comparisons/:id/stream', async (request, reply) => {
    const { id } = parseInput(idParams, request.params, 'path');
    parseInput(streamQuery, request.query, 'query');
    const last = lastEventIdOf(request);
    if (last && comparisonIdOf(last.key) !== id) {
      throw new TributaryError('invalid_last_event_id', 'Last-Event-ID belongs to another stream.');
    }
    await assertComparisonOwner(request, ctx, id);
    const start = last ? { from: 'position' as const, position: last.position } : { from: 'start' as const };
    return streamComparison(ctx.stream, reply, { id, start, frames: nativeFrames });
  });

  /** Explicit stop (a network drop never cancels): every model ends `cancelled` at once. `?purge=true` also deletes it. */
  app.delete('/v1/comparisons/:id', async (request, reply) => {
    const { id } = parseInput(idParams, request.params, 'path');
    const { purge } = parseInput(deleteQuery, request.query, 'query');
    await assertComparisonOwner(request, ctx, id);
    if (purge) {
      if (!(await ctx.comparisons.purge(id))) throw new TributaryError('comparison_not_found', `No comparison ${id}.`);
      return { id, status: 'deleted' };
    }
    if (await ctx.comparisons.cancelAnywhere(id)) return reply.code(202).send({ id, status: 'cancelling' });
    const snapshot = await ctx.comparisons.snapshot(id);
    if (!snapshot) throw new TributaryError('comparison_not_found', `No comparison ${id}.`);
    return { id, status: snapshot.status };
  });

  app.get('/v1/conversations/:id', async (request) => {
    const { id } = parseInput(idParams, request.params, 'path');
    const owner = await ctx.store.conversationOwner(id);
    if (owner !== undefined) await assertConversationOwner(request, ctx, id);
    const messages = await ctx.store.getConversation(id);
    if (!messages) throw new TributaryError('conversation_not_found', `No conversation ${id}.`);
    return { id, messages };
  });
}

export function wantsEventStream(accept: string | undefined): boolean {
  return accept?.includes('text/event-stream') ?? false;
}
