import type { FastifyInstance, FastifyReply } from 'fastify';
import { toOpenAIError } from '../../gateway/openai-errors.js';
import { nextDrain } from '../../transports/drain.js';
import { SSE_HEADERS } from '../../transports/sse-frame.js';
import type { AppContext } from '../context.js';
import { toTributaryError } from '../error-handler.js';
import { chatCompletionBody } from '../openai-schemas.js';
import { parseInput } from '../validate.js';

/**
 * `POST /v1/chat/completions`, OpenAI-compatible. Errors leave in OpenAI's shape. A client
 * that goes away aborts the upstream request at once (unlike a comparison, nothing else
 * could read this answer). The stream's headers wait for the first chunk, so an upstream
 * failure before it is a real HTTP status the SDK turns into the matching APIError.
 */
export function openaiGatewayRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post('/v1/chat/completions', {
    errorHandler: (err, request, reply) => {
      if (reply.sent || reply.raw.headersSent) return void reply.raw.destroy();
      sendError(reply, toTributaryError(err, request.log));
    },
  }, async (request, reply) => {
    const body = parseInput(chatCompletionBody, request.body);
    const abort = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) abort.abort();
    });
    const run = ctx.gateway.start(body, abort.signal);
    if (!body.stream) return run.whole();

    const chunks = run.chunks(body.stream_options?.include_usage === true);
    const first = await chunks.next();
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, SSE_HEADERS);
    res.socket?.setNoDelay(true);
    try {
      for (let next = first; !next.done; next = await chunks.next()) {
        if (res.destroyed) return;
        if (!res.write(`data: ${JSON.stringify(next.value)}\n\n`)) await nextDrain(res); // a slow client pauses the upstream
      }
      res.end('data: [DONE]\n\n');
    } catch (err) {
      // After the headers, an error travels as a data event (the SDK raises it as an APIError).
      if (!res.destroyed) res.end(`data: ${JSON.stringify(toOpenAIError(err).body)}\n\n`);
    }
  });
}

function sendError(reply: FastifyReply, err: unknown): void {
  const { status, body, retryAfterSeconds } = toOpenAIError(err);
  if (retryAfterSeconds !== undefined) reply.header('retry-after', String(retryAfterSeconds));
  reply.code(status).send(body);
}
