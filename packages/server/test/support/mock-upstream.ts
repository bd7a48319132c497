import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ANSWER_PIECES, anthropicFrame, anthropicFrames, errorBody, openaiFrame, openaiChunk, openaiFrames } from './wire-formats.js';

export type Dialect = 'openai' | 'anthropic';

/** One chat request the mock received, with what happened to its socket. */
export interface Exchange {
  model: string;
  body: any;
  headers: http.IncomingHttpHeaders;
  receivedAt: number;
  /** performance.now() when the response was fully written. */
  finishedAt?: number;
  /** performance.now() when the TCP connection carrying it closed. */
  socketClosedAt?: number;
  socketClosed: Promise<number>;
}

export const MOCK_KEYS = { openai: 'sk-mock-openai', anthropic: 'sk-ant-mock' } as const;

/**
 * A local provider speaking one dialect's real wire format over real HTTP. The upstream
 * model id picks the behaviour:
 *   ok…          the answer in ANSWER_PIECES, `chunkDelayMs` apart
 *   slow…        200 pieces, 20 ms apart (for cancel tests)
 *   think…       reasoning first, then the answer
 *   trunc…       the answer, finished by the output limit
 *   e404 / e429 / e500 / context   the provider's error response (429 with Retry-After: 7)
 *   e429-once / e500-once          that error on the first request, then the answer
 *   hang         200 headers, then nothing
 *   stall        three pieces, then silence with the connection open
 *   reset        three pieces, then a TCP reset
 *   malformed    three pieces, then a data line that is not JSON
 * A wrong API key gets the provider's 401.
 */
export async function startMockUpstream(dialect: Dialect, opts: { listed?: string[]; chunkDelayMs?: number } = {}) {
  const chunkDelayMs = opts.chunkDelayMs ?? 3;
  const exchanges: Exchange[] = [];
  const counts = new Map<string, number>();
  let listings = 0;
  const sockets = new Set<Socket>();
  const socketClose = new WeakMap<Socket, Promise<number>>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socketClose.set(socket, new Promise((resolve) => socket.once('close', () => {
      sockets.delete(socket);
      resolve(performance.now());
    })));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<void> {
    const authorised = dialect === 'openai'
      ? req.headers.authorization === `Bearer ${MOCK_KEYS.openai}`
      : req.headers['x-api-key'] === MOCK_KEYS.anthropic && req.headers['anthropic-version'] === '2023-06-01';
    const url = new URL(req.url ?? '/', 'http://mock');
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      listings++;
      if (!authorised) return json(res, 401, errorBody(dialect, 'auth', ''));
      const ids = opts.listed ?? [];
      const body = dialect === 'openai'
        ? { object: 'list', data: ids.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'mock', context_length: 65_536, pricing: { prompt: '0.0000025', completion: '0.00001' } })) }
        : { data: ids.map((id) => ({ type: 'model', id, display_name: `Mock ${id}`, created_at: '2025-02-19T00:00:00Z' })), has_more: false, first_id: ids[0] ?? null, last_id: ids.at(-1) ?? null };
      return json(res, 200, JSON.stringify(body));
    }
    const chatPath = dialect === 'openai' ? '/v1/chat/completions' : '/v1/messages';
    if (req.method !== 'POST' || url.pathname !== chatPath) return json(res, 404, JSON.stringify({ error: { message: 'no such route' } }));
    const body = JSON.parse(raw);
    const model = String(body.model);
    const n = (counts.get(model) ?? 0) + 1;
    counts.set(model, n);
    const exchange: Exchange = { model, body, headers: req.headers, receivedAt: performance.now(), socketClosed: socketClose.get(req.socket)! };
    exchanges.push(exchange);
    void exchange.socketClosed.then((t) => (exchange.socketClosedAt = t));
    res.on('finish', () => (exchange.finishedAt = performance.now()));
    if (!authorised) return json(res, 401, errorBody(dialect, 'auth', model));

    const fail = (status: number, kind: Parameters<typeof errorBody>[1], headers: Record<string, string> = {}) => json(res, status, errorBody(dialect, kind, model), headers);
    if (model === 'e404') return fail(404, 'not_found');
    if (model === 'e429') return fail(429, 'rate_limit', { 'retry-after': '7' });
    if (model === 'e429-once' && n === 1) return fail(429, 'rate_limit', { 'retry-after': '0' });
    if (model === 'e500') return fail(500, 'server');
    if (model === 'e500-once' && n === 1) return fail(500, 'server');
    if (model === 'context') return fail(400, 'context');

    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.flushHeaders();
    if (model === 'hang') return; // headers, then nothing
    const includeUsage = body.stream_options?.include_usage === true;
    const pieces = model.startsWith('slow') ? Array.from({ length: 200 }, (_, i) => ` w${i}`) : ANSWER_PIECES;
    const delay = model.startsWith('slow') ? 20 : chunkDelayMs;
    const finish = model.startsWith('trunc') ? 'length' : 'stop';
    const reasoning = model.startsWith('think') ? ['Consider', ' the water cycle.'] : undefined;
    let frames = dialect === 'openai'
      ? openaiFrames(model, pieces, { includeUsage, finish, reasoning })
      : anthropicFrames(model, pieces, { finish, thinking: reasoning });
    const broken = ['stall', 'reset', 'malformed'].includes(model);
    if (broken) frames = frames.slice(0, dialect === 'openai' ? 4 : 6); // the start and three pieces
    for (const frame of frames) {
      if (res.destroyed) return;
      res.write(frame);
      await wait(delay);
    }
    if (model === 'stall') return;
    if (model === 'reset') {
      req.socket.resetAndDestroy();
      return;
    }
    if (model === 'malformed') {
      res.write(dialect === 'openai' ? 'data: {"id":"chatcmpl-mock9Zq2","choices":[{"delta":{"content":"x"\n\n' : 'event: content_block_delta\ndata: {"type":"content_block_delta",\n\n');
      await wait(delay);
      res.write(dialect === 'openai' ? openaiFrame(openaiChunk(model, { content: ' after' }, null, includeUsage)) : anthropicFrame('message_stop', {}));
      res.end();
      return;
    }
    res.end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    /** The base URL a provider config takes for this dialect. */
    baseUrl: dialect === 'openai' ? `${origin}/v1` : origin,
    exchanges,
    /** Chat requests received per upstream model id. */
    count: (model: string) => counts.get(model) ?? 0,
    listings: () => listings,
    openSockets: () => sockets.size,
    /** Resolves with the first exchange for `model` (waits for it to arrive). */
    async exchange(model: string, timeoutMs = 10_000): Promise<Exchange> {
      const until = performance.now() + timeoutMs;
      for (;;) {
        const found = exchanges.find((e) => e.model === model);
        if (found) return found;
        if (performance.now() > until) throw new Error(`mock never received a request for ${model}`);
        await wait(5);
      }
    },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

export type MockUpstream = Awaited<ReturnType<typeof startMockUpstream>>;

function json(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  const extra = status >= 400 ? { 'x-request-id': 'req_mock' } : {};
  res.writeHead(status, { 'content-type': 'application/json', ...extra, ...headers });
  res.end(body);
}

function wait(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
