import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CompareRequest, ComparisonHandle } from '../../compare/comparison-service.js';
import { comparisonIdOf } from '../../compare/events.js';
import { TributaryError } from '../../errors.js';
import { ownerOf } from '../../identity/types.js';
import { seedFrames, seedMetadata } from '../../transports/comparison-frames.js';
import type { AppContext } from '../context.js';
import { streamComparison } from '../comparison-stream.js';
import { lastEventIdOf } from '../last-event-id.js';
import { errorHandler, seedErrorBody } from '../error-handler.js';
import { admitModels, assertComparisonOwner, assertConversationOwner, countTokens } from '../identity.js';
import { historyFromSeed, seedChatBody, seedChatQuery, seedCompareBody } from '../schemas.js';
import { parseLenient } from '../validate.js';
import { flagIdentityOf } from '../flag-identity.js';
import { ADMISSION_ERRORS, api, type RouteDoc } from '../openapi.js';

/** Seed 002's own paths for `/chat` and `/chat-stream`. */
const BALI_ZERO = '/api/v2/bali-zero';

/**
 * The routes existing clients of the replaced systems speak (DESIGN.md), as thin adapters
 * over the comparison service and the native stream.
 */
export function seedRoutes(app: FastifyInstance, ctx: AppContext): void {
  // Its own scope: errors here also carry FastAPI's `detail`.
  app.register(async (scope) => {
    scope.setErrorHandler(errorHandler(seedErrorBody, { retryAfterSeconds: ctx.config.durability.retryAfterSeconds }));
    seedScope(scope, ctx);
  });
}

function seedScope(app: FastifyInstance, ctx: AppContext): void {
  const compareRequest = (request: FastifyRequest): CompareRequest => {
    const b = parseLenient(seedCompareBody, request.body, request.log);
    return {
      kind: 'compare',
      prompt: b.input_data,
      models: b.models,
      tier: b.tier,
      conversationId: b.conversation_id ?? undefined,
      history: historyFromSeed(b.conversation_history),
      fingerprint: b.browser_fingerprint ?? undefined,
    };
  };
  const chatRequest = (request: FastifyRequest): CompareRequest => {
    const b =
      request.method === 'GET' ? parseLenient(seedChatQuery, request.query, request.log, 'query') : parseLenient(seedChatBody, request.body, request.log);
    return {
      kind: 'chat',
      prompt: b.query,
      models: [b.model ?? ctx.config.compare.defaultChatModel],
      tier: b.tier,
      conversationId: b.conversation_id ?? undefined,
      history: historyFromSeed('conversation_history' in b ? b.conversation_history : undefined),
      fingerprint: b.browser_fingerprint ?? undefined,
    };
  };

  /** Identity and limits around the start of a comparison or chat (identity.ts). */
  const start = (request: FastifyRequest, reply: FastifyReply, req: CompareRequest): Promise<ComparisonHandle> =>
    admitModels(request, reply, ctx, { scope: req.kind, models: req.models, tier: req.tier, fingerprint: req.fingerprint, seed: true }, async (caller) => {
      await assertConversationOwner(request, ctx, req.conversationId);
      const handle = await ctx.comparisons.start({ ...req, owner: ownerOf(caller), keyId: caller.kind === 'key' ? caller.keyId : null });
      countTokens(request, ctx, caller, handle.done, req.fingerprint);
      return handle;
    });

  const seed = (doc: Omit<RouteDoc, 'tags' | 'errorShape'>) =>
    api({ ...doc, tags: ['seed'], errorShape: 'seed', errors: [...ADMISSION_ERRORS, 'conversation_not_found', ...(doc.errors ?? [])] });
  const compareDoc = seed({ summary: 'Compare models, answered whole (seed 001)', body: seedCompareBody });
  const compareStreamDoc = seed({
    summary: 'Compare models, streamed as SSE (seed 001); re-send with Last-Event-ID to resume',
    body: seedCompareBody,
    produces: 'text/event-stream',
    errors: ['invalid_last_event_id', 'comparison_not_found'],
  });
  const chatDoc = seed({ summary: 'Chat with one model, answered whole (seed 002)', body: seedChatBody });
  const chatGetDoc = seed({ summary: 'Chat with one model, answered whole (seed 002, query form)', query: seedChatQuery });
  const streamErrors = ['feature_flag_disabled', 'invalid_last_event_id', 'comparison_not_found'] as const;
  const chatStreamDoc = seed({
    summary: 'Chat streamed as SSE (seed 002; flag sse_streaming)',
    body: seedChatBody,
    produces: 'text/event-stream',
    errors: streamErrors,
  });
  const chatStreamGetDoc = seed({
    summary: 'Chat streamed as SSE, EventSource form (seed 002; flag sse_streaming)',
    query: seedChatQuery,
    produces: 'text/event-stream',
    errors: streamErrors,
  });

  for (const path of ['/compare', '/api/compare']) {
    app.post(path, compareDoc, async (request, reply) => answerWhole(await start(request, reply, compareRequest(request))));
  }

  for (const path of ['/compare-stream', '/api/compare-stream']) {
    app.post(path, compareStreamDoc, async (request, reply) => {
      // Re-sending the POST with Last-Event-ID resumes that comparison instead of starting another.
      if (await resume(request, reply)) return;
      const handle = await start(request, reply, compareRequest(request));
      return streamNew(reply, handle);
    });
  }

  const chat = async (request: FastifyRequest, reply: FastifyReply) => {
    const handle = await start(request, reply, chatRequest(request));
    const done = await ctx.comparisons.answer(handle);
    const result = done.results[0]!;
    const failed = result.status === 'failed' || result.status === 'cancelled';
    return {
      response: result.text,
      model: result.model,
      error: failed,
      ...(failed ? { error_code: result.errorCode, error_message: result.errorMessage } : {}),
      comparison_id: handle.id,
      conversation_id: handle.conversationId,
      usage: { input_tokens: result.inputTokens ?? 0, output_tokens: result.outputTokens ?? 0 },
      metadata: seedMetadata(done),
    };
  };
  app.post('/chat', chatDoc, chat);
  app.get(`${BALI_ZERO}/chat`, chatGetDoc, chat);
  app.post(`${BALI_ZERO}/chat`, chatDoc, chat);

  const chatStream = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!ctx.flags.evaluate('sse_streaming', await flagIdentityOf(request, ctx))) {
      throw new TributaryError('feature_flag_disabled', 'Streaming chat is disabled (flag sse_streaming, env ENABLE_SSE_STREAMING).', {
        flag: 'sse_streaming',
      });
    }
    if (await resume(request, reply)) return;
    return streamNew(reply, await start(request, reply, chatRequest(request)));
  };
  for (const path of ['/chat-stream', `${BALI_ZERO}/chat-stream`]) {
    app.get(path, chatStreamGetDoc, chatStream);
    app.post(path, chatStreamDoc, chatStream);
  }

  async function answerWhole(handle: ComparisonHandle) {
    const done = await ctx.comparisons.answer(handle);
    const results: Record<string, string> = {};
    const errors: Record<string, { code: string; message: string }> = {};
    for (const r of done.results) {
      if (r.status === 'ok' || r.status === 'truncated') results[r.model] = r.text;
      else {
        results[r.model] = `Error: ${r.errorMessage ?? r.errorCode}`;
        errors[r.model] = { code: r.errorCode ?? 'upstream_error', message: r.errorMessage ?? '' };
      }
    }
    return { results, metadata: seedMetadata(done), errors, comparison_id: handle.id, conversation_id: handle.conversationId };
  }

  function streamNew(reply: FastifyReply, handle: ComparisonHandle) {
    return streamComparison(ctx.stream, reply, { id: handle.id, conversationId: handle.conversationId, start: { from: 'start' }, frames: seedFrames });
  }

  async function resume(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    const last = lastEventIdOf(request);
    if (!last) return false;
    const id = comparisonIdOf(last.key);
    if (!id) throw new TributaryError('invalid_last_event_id', 'Last-Event-ID does not name a comparison.');
    await assertComparisonOwner(request, ctx, id);
    await streamComparison(ctx.stream, reply, { id, start: { from: 'position', position: last.position }, frames: seedFrames });
    return true;
  }
}
