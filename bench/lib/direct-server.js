import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';

const SSE_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
};

/**
 * The peer: the physical floor of Node SSE. `POST /compare-stream` runs every model of the
 * provider concurrently and writes each delta straight to the response as a seed-format frame
 * (`id:` + `data: {"model","type":"chunk","content"}`), with no stream log, hub or framework.
 */
export function createDirectServer(provider, { maxOutputTokens = 4000 } = {}) {
  const epoch = randomBytes(6).toString('base64url');
  let comparisons = 0;

  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || (req.url !== '/compare-stream' && req.url !== '/api/compare-stream')) {
      res.writeHead(404).end();
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      let input;
      try {
        input = JSON.parse(body);
      } catch {
        res.writeHead(400).end();
        return;
      }
      compare(input, res).catch((err) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(String(err?.message ?? err));
      });
    });
  });

  async function compare({ input_data: prompt, models, tier = 'standard' }, res) {
    const key = `cmp_direct${++comparisons}`;
    let seq = 0;
    const abort = new AbortController();
    setMaxListeners(models.length + 10, abort.signal); // every model waits on this one signal
    res.on('close', () => abort.abort());
    res.writeHead(200, SSE_HEADERS);
    res.socket?.setNoDelay(true);
    res.write('retry: 1000\n\n');
    const send = (payload) => {
      if (!res.destroyed) res.write(`id: ${key}:${epoch}:${++seq}\ndata: ${JSON.stringify(payload)}\n\n`);
    };
    send({ type: 'comparison', comparison_id: key, models, tier });
    const started = performance.now();
    const ok = await Promise.all(
      models.map(async (model) => {
        send({ model, type: 'start' });
        try {
          const request = { model, messages: [{ role: 'user', content: prompt }], maxOutputTokens, tier, signal: abort.signal };
          for await (const chunk of provider.stream(request)) {
            if (chunk.type === 'delta') {
              if (chunk.text !== '') send({ model, type: 'chunk', content: chunk.text });
              continue;
            }
            send({ model, type: 'done', error: false, finish_reason: chunk.finishReason, output_tokens: chunk.usage.outputTokens });
            return true;
          }
          throw new Error('stream ended without finish');
        } catch (err) {
          send({ model, type: 'done', error: true, error_message: String(err?.message ?? err) });
          return false;
        }
      }),
    );
    const successful = ok.filter(Boolean).length;
    send({
      type: 'complete',
      metadata: {
        input_length: prompt.length,
        models_requested: models.length,
        models_successful: successful,
        models_failed: models.length - successful,
        timestamp: new Date().toISOString(),
        processing_time_ms: Math.round(performance.now() - started),
      },
    });
    res.end();
  }

  return {
    server,
    listen: () => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port))),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
