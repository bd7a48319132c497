import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ChunkSink } from '../../gateway/chat-completions.js';
import { toOpenAIError } from '../../gateway/openai-errors.js';
import { BodyWriter } from '../../transports/body-writer.js';
import { SSE_HEADERS } from '../../transports/sse-frame.js';
import type { AppContext } from '../context.js';
import { toTributaryError } from '../error-handler.js';
import { admitModels, callerOf } from '../identity.js';
import { chatCompletionBody } from '../openai-schemas.js';
import { parseInput } from '../validate.js';

/**
 * `POST /v1/chat/completions`, OpenAI-compatible. Errors leave in OpenAI's shape. A client
 * that goes away aborts the upstream request at once (unlike a comparison, nothing else
 * could read this answer). The stream's headers wait for the upstream to accept the request
 * (the role chunk), so an upstream failure before that is a real HTTP status the SDK turns
 * into the matching APIError.
 */
export function openaiGatewayRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post('/v1/chat/completions', {
    errorHandler: (err, request, reply) => {
      if (reply.sent || reply.raw.headersSent) return void reply.raw.destroy();
      sendError(reply, toTributaryError(err, request.log));
    },
  }, async (request, reply) => {
    const input = parseInput(chatCompletionBody, request.body);
    const abort = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) abort.abort();
    });
    // One model response, charged before the upstream is called (given back for an unknown model).
    const run = await admitModels(request, reply, ctx, { scope: 'chat', models: [input.model], tier: 'standard' }, async () => ctx.gateway.start(input, abort.signal));
    const countTokens = () => {
      if (run.tokens) void callerOf(request, ctx).then((caller) => ctx.identity.quotas.addTokens(caller, run.tokens!)).catch((err: unknown) => request.log.warn({ err }, 'token count failed'));
    };
    if (!input.stream) return run.whole().finally(countTokens);

    let out: BodyWriter | undefined;
    const sink: ChunkSink = {
      write: (json) => {
        if (!out) {
          reply.hijack();
          out = new BodyWriter(reply.raw, 200, SSE_HEADERS);
        }
        return out.write(`data: ${json}\n\n`); // true once the client is gone: the abort ends the run
      },
      drained: () => out!.drained(), // a slow client pauses the upstream
    };
    try {
      await run.pipe(input.stream_options?.include_usage === true, sink);
      out!.end('data: [DONE]\n\n');
      countTokens();
    } catch (err) {
      if (!out) throw err; // before the first chunk: a real HTTP status
      // After the headers, an error travels as a data event (the SDK raises it as an APIError).
      out.end(`data: ${JSON.stringify(toOpenAIError(err).body)}\n\n`);
    }
  });
}

function sendError(reply: FastifyReply, err: unknown): void {
  const { status, body, retryAfterSeconds, headers } = toOpenAIError(err);
  if (retryAfterSeconds !== undefined) reply.header('retry-after', String(retryAfterSeconds));
  if (headers) reply.headers(headers);
  reply.code(status).send(body);
}
