/**
 * The mock provider's HTTP server. Runs in a worker thread (see mock-upstream.ts) so that it
 * sees its sockets close on its own event loop, whatever the server under test is doing.
 * Reports every exchange to the parent: received (with body), finished, socket closed —
 * times as wall-clock ms (performance.timeOrigin + performance.now()).
 */
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import {
  ANSWER_PIECES,
  EDGE_TEXT_PIECES,
  anthropicFrame,
  anthropicFrames,
  anthropicToolFrames,
  errorBody,
  openaiChunk,
  openaiFrame,
  openaiFrames,
  openaiToolFrames,
  toolResultOf,
} from './wire-formats.js';

export const MOCK_KEYS = { openai: 'sk-mock-openai', anthropic: 'sk-ant-mock' };

const wall = () => performance.timeOrigin + performance.now();
const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function json(res, status, body, headers = {}) {
  const extra = status >= 400 ? { 'x-request-id': 'req_mock' } : {};
  res.writeHead(status, { 'content-type': 'application/json', ...extra, ...headers });
  res.end(body);
}

/** `bulk`: 16 MiB written at once (backpressure). */
export const BULK_PIECES = Array.from({ length: 1024 }, (_, i) => `${String(i).padStart(4, '0')}${'x'.repeat(16 * 1024 - 4)}`);

export function createMockServer({ dialect, listed = [], chunkDelayMs = 3 }, report) {
  const counts = new Map();
  let exchanges = 0;
  const socketIds = new WeakMap();
  let nextSocket = 0;

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => void handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  server.on('connection', (socket) => {
    const id = nextSocket++;
    socketIds.set(socket, id);
    // Closed = the peer's FIN ('end') or the socket's end, whichever comes first: a server
    // that is mid-response would otherwise only notice at its next write.
    let reported = false;
    const closed = () => {
      if (reported) return;
      reported = true;
      report({ type: 'socket-closed', socket: id, at: wall() });
    };
    socket.once('end', closed);
    socket.once('close', closed);
  });

  async function handle(req, res, raw) {
    const authorised =
      dialect === 'openai'
        ? req.headers.authorization === `Bearer ${MOCK_KEYS.openai}`
        : req.headers['x-api-key'] === MOCK_KEYS.anthropic && req.headers['anthropic-version'] === '2023-06-01';
    const url = new URL(req.url ?? '/', 'http://mock');
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      report({ type: 'listing' });
      if (!authorised) return json(res, 401, errorBody(dialect, 'auth', ''));
      const body =
        dialect === 'openai'
          ? {
              object: 'list',
              data: listed.map((id) => ({
                id,
                object: 'model',
                created: 1_700_000_000,
                owned_by: 'mock',
                context_length: 65_536,
                pricing: { prompt: '0.0000025', completion: '0.00001' },
              })),
            }
          : {
              data: listed.map((id) => ({ type: 'model', id, display_name: `Mock ${id}`, created_at: '2025-02-19T00:00:00Z' })),
              has_more: false,
              first_id: listed[0] ?? null,
              last_id: listed.at(-1) ?? null,
            };
      return json(res, 200, JSON.stringify(body));
    }
    const chatPath = dialect === 'openai' ? '/v1/chat/completions' : '/v1/messages';
    if (req.method !== 'POST' || url.pathname !== chatPath) return json(res, 404, JSON.stringify({ error: { message: 'no such route' } }));
    const body = JSON.parse(raw);
    const model = String(body.model);
    const n = (counts.get(model) ?? 0) + 1;
    counts.set(model, n);
    const exchange = exchanges++;
    report({ type: 'exchange', exchange, socket: socketIds.get(req.socket), model, body, headers: req.headers, at: wall() });
    res.on('finish', () => report({ type: 'finished', exchange, at: wall() }));
    if (!authorised) return json(res, 401, errorBody(dialect, 'auth', model));

    const fail = (status, kind, headers = {}) => json(res, status, errorBody(dialect, kind, model), headers);
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
    const slow = model.startsWith('slow');
    // `tool`: with tools offered, calls get_weather; after its result, answers quoting it.
    const toolResult = model === 'tool' ? toolResultOf(dialect, body) : undefined;
    const pieces = slow
      ? Array.from({ length: 200 }, (_, i) => ` w${i}`)
      : toolResult !== undefined
        ? ['Tool said: ', toolResult]
        : model === 'edgetext'
          ? EDGE_TEXT_PIECES
          : ANSWER_PIECES;
    const delay = slow ? 20 : chunkDelayMs;
    const finish = model.startsWith('trunc') ? 'length' : 'stop';
    const reasoning = model.startsWith('think') ? ['Consider', ' the water cycle.'] : undefined;
    let frames =
      dialect === 'openai'
        ? openaiFrames(model, pieces, { includeUsage, finish, reasoning, logprobs: body.logprobs === true })
        : anthropicFrames(model, pieces, { finish, thinking: reasoning });
    if (model === 'tool' && toolResult === undefined && body.tools?.length) {
      frames = dialect === 'openai' ? openaiToolFrames(model, { includeUsage }) : anthropicToolFrames(model);
    }
    if (model === 'bulk' && dialect === 'openai') {
      // Each frame built as it is written: building all 16 MiB of frames first could outlast the first-token timeout.
      const [head, ...tail] = openaiFrames(model, [], { includeUsage });
      res.write(head);
      for (const piece of BULK_PIECES) {
        if (res.destroyed) return;
        res.write(openaiFrame(openaiChunk(model, { content: piece }, null, includeUsage)));
      }
      for (const frame of tail) res.write(frame);
      return void res.end();
    }
    if (['stall', 'reset', 'malformed'].includes(model)) frames = frames.slice(0, dialect === 'openai' ? 4 : 6); // the start and three pieces
    for (const frame of frames) {
      if (res.destroyed) return;
      res.write(frame);
      await wait(delay);
    }
    if (model === 'stall') return;
    if (model === 'reset') return void req.socket.resetAndDestroy();
    if (model === 'malformed') {
      res.write(
        dialect === 'openai'
          ? 'data: {"id":"chatcmpl-mock9Zq2","choices":[{"delta":{"content":"x"\n\n'
          : 'event: content_block_delta\ndata: {"type":"content_block_delta",\n\n',
      );
      await wait(delay);
      res.write(dialect === 'openai' ? openaiFrame(openaiChunk(model, { content: ' after' }, null, includeUsage)) : anthropicFrame('message_stop', {}));
    }
    res.end();
  }
  return server;
}

if (parentPort && workerData?.mockUpstream) {
  const port = parentPort;
  const server = createMockServer(workerData.mockUpstream, (event) => port.postMessage(event));
  server.listen(0, '127.0.0.1', () => port.postMessage({ type: 'listening', port: server.address().port }));
  port.on('message', (msg) => {
    if (msg === 'close') {
      server.closeAllConnections();
      server.close(() => port.postMessage({ type: 'closed' }));
    }
  });
}
