import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CompareRequest, ComparisonHandle } from '../../compare/comparison-service.js';
import { comparisonIdOf } from '../../compare/events.js';
import { TributaryError } from '../../errors.js';
import { ownerOf } from '../../identity/types.js';
import { seedFrames, seedMetadata } from '../../transports/comparison-frames.js';
import type { AppContext } from '../context.js';
import { streamComparison } from '../comparison-stream.js';
import { lastEventIdOf } from '../last-event-id.js';
import { admitModels, assertComparisonOwner, assertConversationOwner, countTokens } from '../identity.js';
import { historyFromSeed, seedChatBody, seedChatQuery, seedCompareBody } from '../schemas.js';
import { parseInput } from '../validate.js';

/**
 * The routes existing clients of the replaced systems speak (DESIGN.md), as thin adapters
 * over the comparison service and the native stream.
 */
export function seedRoutes(app: FastifyInstance, ctx: AppContext): void {
  const compareRequest = (body: unknown): CompareRequest & { fingerprint?: string | undefined } => {
    const b = parseInput(seedCompareBody, body);
    return {
      kind: 'compare', prompt: b.input_data, models: b.models, tier: b.tier, conversationId: b.conversation_id, history: historyFromSeed(b.conversation_history),
      fingerprint: b.browser_fingerprint,
    };
  };
  /** Identity and limits around the start of a comparison or chat (identity.ts). */
  const start = (request: FastifyRequest, reply: FastifyReply, req: CompareRequest & { fingerprint?: string | undefined }): Promise<ComparisonHandle> =>
    admitModels(request, reply, ctx, { scope: req.kind, models: req.models, tier: req.tier, fingerprint: req.fingerprint, seed: true }, async (caller) => {
      await assertConversationOwner(request, ctx, req.conversationId);
      const handle = await ctx.comparisons.start({ ...req, owner: ownerOf(caller), keyId: caller.kind === 'key' ? caller.keyId : null });
      countTokens(request, ctx, caller, handle.done, req.fingerprint);
      return handle;
    });
  const chatRequest = (b: { query: string; model?: string | undefined; tier: CompareRequest['tier']; conversation_id?: string | undefined; conversation_history?: Parameters<typeof historyFromSeed>[0] }): CompareRequest => ({
    kind: 'chat', prompt: b.query, models: [b.model ?? ctx.config.compare.defaultChatModel], tier: b.tier,
    conversationId: b.conversation_id, history: historyFromSeed(b.conversation_history),
  });

  for (const path of ['/compare', '/api/compare']) {
    app.post(path, async (request, reply) => answerWhole(await start(request, reply, compareRequest(request.body))));
  }

  for (const path of ['/compare-stream', '/api/compare-stream']) {
    app.post(path, async (request, reply) => {
      // Re-sending the POST with Last-Event-ID resumes that comparison instead of starting another.
      if (await resume(request, reply)) return;
      const handle = await start(request, reply, compareRequest(request.body));
      return streamNew(reply, handle);
    });
  }

  app.post('/chat', async (request, reply) => {
    const handle = await start(request, reply, chatRequest(parseInput(seedChatBody, request.body)));
    const done = await handle.done;
    const result = done.results[0]!;
    const failed = result.status === 'failed' || result.status === 'cancelled';
    return {
      response: result.text, model: result.model, error: failed, ...(failed ? { error_code: result.errorCode, error_message: result.errorMessage } : {}),
      comparison_id: handle.id, conversation_id: handle.conversationId,
      usage: { input_tokens: result.inputTokens ?? 0, output_tokens: result.outputTokens ?? 0 }, metadata: seedMetadata(done),
    };
  });

  const chatStream = async (request: FastifyRequest, reply: FastifyReply, input: unknown, schema: typeof seedChatBody | typeof seedChatQuery) => {
    if (!ctx.flags.isEnabled('sse_streaming')) {
      throw new TributaryError('feature_flag_disabled', 'Streaming chat is disabled (flag sse_streaming, env ENABLE_SSE_STREAMING).', { flag: 'sse_streaming' });
    }
    if (await resume(request, reply)) return;
    return streamNew(reply, await start(request, reply, chatRequest(parseInput(schema, input, request.method === 'GET' ? 'query' : 'body'))));
  };
  app.get('/chat-stream', (request, reply) => chatStream(request, reply, request.query, seedChatQuery));
  app.post('/chat-stream', (request, reply) => chatStream(request, reply, request.body, seedChatBody));

  async function answerWhole(handle: ComparisonHandle) {
    const done = await handle.done;
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
