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
import { ADMISSION_ERRORS, api } from '../openapi.js';

/** The native comparison API under /v1. */
export function comparisonRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post(
    '/v1/comparisons',
    api({
      summary: 'Start a comparison (201 with its stream URL, or the SSE stream itself with Accept: text/event-stream)',
      tags: ['native'],
      body: comparisonBody,
      status: 201,
      produces: 'json-or-event-stream',
      errors: [...ADMISSION_ERRORS, 'conversation_not_found', 'forbidden'],
    }),
    async (request, reply) => {
      const body = parseInput(comparisonBody, request.body);
      const handle = await admitModels(request, reply, ctx, { scope: 'compare', models: body.models, tier: body.tier }, async (caller) => {
        await assertConversationOwner(request, ctx, body.conversationId);
        const started = await ctx.comparisons.start({
          kind: 'compare',
          prompt: body.prompt,
          models: body.models,
          tier: body.tier,
          conversationId: body.conversationId,
          history: body.history?.map((m) => ({ role: m.role, content: m.content, modelId: m.model ?? null })),
          owner: ownerOf(caller),
          keyId: caller.kind === 'key' ? caller.keyId : null,
        });
        countTokens(request, ctx, caller, started.done);
        return started;
      });
      if (wantsEventStream(request.headers.accept)) {
        return streamComparison(ctx.stream, reply, { id: handle.id, conversationId: handle.conversationId, start: { from: 'start' }, frames: nativeFrames });
      }
      reply.code(201).header('X-Comparison-Id', handle.id).header('X-Conversation-Id', handle.conversationId);
      return { id: handle.id, conversationId: handle.conversationId, streamUrl: `/v1/comparisons/${handle.id}/stream` };
    },
  );

  app.get('/v1/comparisons', api({ summary: "List the caller's comparisons", tags: ['native'], query: listQuery }), async (request) => {
    const query = parseInput(listQuery, request.query, 'query');
    // Callers see their own comparisons; anonymous callers the anonymous ones.
    const items = await ctx.store.listComparisons({ ...query, owner: ownerOf(await callerOf(request, ctx)) });
    return { comparisons: items };
  });

  app.get(
    '/v1/comparisons/:id',
    api({ summary: "A comparison's snapshot", tags: ['native'], params: idParams, errors: ['comparison_not_found'] }),
    async (request) => {
      const { id } = parseInput(idParams, request.params, 'path');
      await assertComparisonOwner(request, ctx, id);
      const snapshot = await ctx.comparisons.snapshot(id);
      if (!snapshot) throw new TributaryError('comparison_not_found', `No comparison ${id}.`);
      return snapshot;
    },
  );

  app.get(
    '/v1/comparisons/:id/stream',
    api({
      summary: "A comparison's SSE stream (resumable with Last-Event-ID)",
      tags: ['native'],
      params: idParams,
      query: streamQuery,
      produces: 'text/event-stream',
      errors: ['comparison_not_found', 'invalid_last_event_id'],
    }),
    async (request, reply) => {
      const { id } = parseInput(idParams, request.params, 'path');
      parseInput(streamQuery, request.query, 'query');
      const last = lastEventIdOf(request);
      if (last && comparisonIdOf(last.key) !== id) {
        throw new TributaryError('invalid_last_event_id', 'Last-Event-ID belongs to another stream.');
      }
      await assertComparisonOwner(request, ctx, id);
      const start = last ? { from: 'position' as const, position: last.position } : { from: 'start' as const };
      return streamComparison(ctx.stream, reply, { id, start, frames: nativeFrames });
    },
  );

  /** Explicit stop (a network drop never cancels): every model ends `cancelled` at once. `?purge=true` also deletes it. */
  app.delete(
    '/v1/comparisons/:id',
    api({
      summary: 'Cancel a comparison (?purge=true also deletes it)',
      tags: ['native'],
      params: idParams,
      query: deleteQuery,
      errors: ['comparison_not_found'],
    }),
    async (request, reply) => {
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
    },
  );

  app.get(
    '/v1/conversations/:id',
    api({ summary: "A conversation's messages", tags: ['native'], params: idParams, errors: ['conversation_not_found'] }),
    async (request) => {
      const { id } = parseInput(idParams, request.params, 'path');
      const owner = await ctx.store.conversationOwner(id);
      if (owner !== undefined) await assertConversationOwner(request, ctx, id);
      const messages = await ctx.store.getConversation(id);
      if (!messages) throw new TributaryError('conversation_not_found', `No conversation ${id}.`);
      return { id, messages };
    },
  );
}

export function wantsEventStream(accept: string | undefined): boolean {
  return accept?.includes('text/event-stream') ?? false;
}
