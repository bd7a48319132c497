import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ChunkSink } from '../../gateway/chat-completions.js';
import { toOpenAIError } from '../../gateway/openai-errors.js';
import { Responses, type ResponseEventSink } from '../../gateway/responses.js';
import { BodyWriter } from '../../transports/body-writer.js';
import { SSE_HEADERS } from '../../transports/sse-frame.js';
import type { AppContext } from '../context.js';
import { toTributaryError } from '../error-handler.js';
import { admitModels, callerOf } from '../identity.js';
import { chatCompletionBody, responsesBody } from '../openai-schemas.js';
import { parseInput } from '../validate.js';
import { ADMISSION_ERRORS, api } from '../openapi.js';
import { hijack } from '../hijack.js';

/**
 * `POST /v1/chat/completions` and `POST /v1/responses`, OpenAI-compatible. Errors leave in
 * OpenAI's shape. A client that goes away aborts the upstream request at once (unlike a
 * comparison, nothing else could read this answer). A stream's headers wait for its first
 * event (the upstream accepted the request), so an upstream failure before that is a real
 * HTTP status the SDK turns into the matching APIError.
 */
export function openaiGatewayRoutes(app: FastifyInstance, ctx: AppContext): void {
  const errorHandler = (err: Error, request: { log: any }, reply: FastifyReply) => {
    if (reply.sent || reply.raw.headersSent) return void reply.raw.destroy();
    sendError(reply, toTributaryError(err as any, request.log));
  };

  const errors = [...ADMISSION_ERRORS, 'unsupported_parameter', 'auth', 'timeout', 'upstream_error', 'network', 'content_filter', 'context_length'] as const;
  app.post(
    '/v1/chat/completions',
    {
      ...api({
        summary: 'OpenAI-compatible chat completions (stream or whole)',
        tags: ['openai'],
        body: chatCompletionBody,
        produces: 'json-or-event-stream',
        errors,
        errorShape: 'openai',
      }),
      errorHandler,
    },
    async (request, reply) => {
      const input = parseInput(chatCompletionBody, request.body);
      const signal = abortOnClose(reply);
      // One model response, charged before the upstream is called (given back for an unknown model).
      const run = await admitModels(request, reply, ctx, { scope: 'chat', models: [input.model], tier: 'standard' }, async () =>
        ctx.gateway.start(input, signal),
      );
      const countTokens = () => {
        if (run.tokens)
          void callerOf(request, ctx)
            .then((caller) => ctx.identity.quotas.addTokens(caller, run.tokens!))
            .catch((err: unknown) => request.log.warn({ err }, 'token count failed'));
      };
      if (!input.stream) return run.whole().finally(countTokens);
      const out = new LazySse(reply);
      const frames = (jsons: string[]) => (jsons.length === 1 ? `data: ${jsons[0]}\n\n` : jsons.map((j) => `data: ${j}\n\n`).join(''));
      const sink: ChunkSink = {
        write: (jsons) => out.write(frames(jsons)), // true once the client is gone: the abort ends the run
        drained: () => out.drained(), // a slow client pauses the upstream
      };
      try {
        const last = await run.pipe(input.stream_options?.include_usage === true, sink);
        out.end(`${frames(last)}data: [DONE]\n\n`);
        countTokens();
      } catch (err) {
        if (!out.started) throw err; // before the first chunk: a real HTTP status
        // After the headers, an error travels as a data event (the SDK raises it as an APIError).
        out.end(`data: ${JSON.stringify(toOpenAIError(err).body)}\n\n`);
      }
    },
  );

  app.post(
    '/v1/responses',
    {
      ...api({
        summary: 'OpenAI-compatible Responses API (stream or whole)',
        tags: ['openai'],
        body: responsesBody,
        produces: 'json-or-event-stream',
        errors,
        errorShape: 'openai',
      }),
      errorHandler,
    },
    async (request, reply) => {
      Responses.checkInputTypes(request.body);
      const input = parseInput(responsesBody, request.body);
      const signal = abortOnClose(reply);
      const run = await admitModels(request, reply, ctx, { scope: 'chat', models: [input.model], tier: 'standard' }, async () =>
        ctx.responses.start(input, signal),
      );
      if (!input.stream) return run.whole();
      const out = new LazySse(reply);
      const sink: ResponseEventSink = { write: (type, json) => out.write(`event: ${type}\ndata: ${json}\n\n`), drained: () => out.drained() };
      await run.pipe(sink); // failures after the first event are events; before it, a real HTTP status
      out.end();
    },
  );
}

/** A signal that aborts when the client leaves before the answer is written. */
function abortOnClose(reply: FastifyReply): AbortSignal {
  const abort = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) abort.abort();
  });
  return abort.signal;
}

/** An SSE body whose headers go out with its first piece. */
class LazySse {
  private out: BodyWriter | undefined;
  constructor(private readonly reply: FastifyReply) {}

  get started(): boolean {
    return this.out !== undefined;
  }

  write(piece: string): boolean {
    return this.open().write(piece);
  }

  drained(): Promise<void> {
    return this.out!.drained();
  }

  end(piece?: string): void {
    this.open().end(piece);
  }

  private open(): BodyWriter {
    if (!this.out) {
      hijack(this.reply);
      // Bursts coalesced per tick: an upstream read that carries several HTTP chunks hands them
      // over one by one (100 streams under strace, whose slowness lets reads carry several:
      // 5,301 socket writes before, 794 after; at full speed a read carries one, and so a write).
      this.out = new BodyWriter(this.reply.raw, 200, SSE_HEADERS, true);
    }
    return this.out;
  }
}

function sendError(reply: FastifyReply, err: unknown): void {
  const { status, body, retryAfterSeconds, headers } = toOpenAIError(err);
  if (retryAfterSeconds !== undefined) reply.header('retry-after', String(retryAfterSeconds));
  if (headers) reply.headers(headers);
  reply.code(status).send(body);
}
