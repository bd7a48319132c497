/**
 * Forked child: a mock OpenAI-compatible upstream for the gateway benchmark. Every
 * `POST /v1/chat/completions` streams CHUNKS content chunks DELAY_MS apart on an absolute
 * schedule, each chunk's content being its send time (wall-clock ms), then a usage chunk and
 * `[DONE]`. The first user message names the request; the parent hears over IPC when that
 * request's socket was closed by the peer (FIN seen) and when its response finished.
 */
import http from 'node:http';
import { now } from './clock.js';

const CHUNKS = 50;
const DELAY_MS = 10;
process.on('disconnect', () => process.exit(0));

const chunk = (model, delta, finish) =>
  `data: ${JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion.chunk',
    created: 1_732_000_000,
    model,
    system_fingerprint: 'fp_bench',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  })}\n\n`;

const server = http.createServer((req, res) => {
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ object: 'list', data: [{ id: 'bench', object: 'model', created: 0, owned_by: 'bench' }] }));
  }
  let raw = '';
  req.setEncoding('utf8');
  req.on('data', (d) => (raw += d));
  req.on('end', () => {
    const body = JSON.parse(raw);
    const id = String(body.messages?.[0]?.content ?? '');
    const model = body.model;
    let closed = false;
    const onClose = () => {
      if (closed) return;
      closed = true;
      process.send?.({ type: 'closed', id, at: now() });
    };
    req.socket.once('end', onClose);
    req.socket.once('close', onClose);
    res.on('finish', () => {
      // The keep-alive socket serves the next request: its listeners go with this one.
      req.socket.off('end', onClose);
      req.socket.off('close', onClose);
      process.send?.({ type: 'finished', id, at: now() });
    });
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.socket?.setNoDelay(true);
    res.write(chunk(model, { role: 'assistant', content: '' }, null));
    const start = performance.now();
    let i = 0;
    const tick = () => {
      if (res.destroyed) return;
      if (i < CHUNKS) {
        res.write(chunk(model, { content: `${now().toFixed(3)} ` }, null));
        i++;
        setTimeout(tick, Math.max(0, start + (i + 1) * DELAY_MS - performance.now()));
        return;
      }
      res.write(chunk(model, {}, 'stop'));
      res.write(
        `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1_732_000_000, model, choices: [], usage: { prompt_tokens: 5, completion_tokens: CHUNKS, total_tokens: CHUNKS + 5 } })}\n\n`,
      );
      res.end('data: [DONE]\n\n');
    };
    setTimeout(tick, DELAY_MS);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port, chunks: CHUNKS, delayMs: DELAY_MS }));
