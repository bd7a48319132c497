import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

/**
 * Purpose-built bad servers for `tributary verify`: a real Tributary behind a small proxy that
 * breaks one thing (streams models one after another, drops events on reconnect, ignores
 * `lastSeq`, answers 5xx under load). Everything it does not break is passed through as is.
 */
export interface Breakage {
  /** Handles a request itself (true) instead of passing it through. */
  request?(req: IncomingMessage, res: ServerResponse, body: Buffer, upstream: string): Promise<boolean> | boolean;
  /** Rewrites an SSE response's blocks (text between blank lines) as they pass. */
  sseBlocks?(req: IncomingMessage): ((block: string) => string | null) | undefined;
  /** Rewrites the seed WebSocket's first client message. */
  firstWsMessage?(path: string, message: any): any;
}

export interface BadServer {
  url: string;
  close(): Promise<void>;
}

export async function startBadServer(upstream: string, breakage: Breakage): Promise<BadServer> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: true });
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    try {
      if (await breakage.request?.(req, res, body, upstream)) return;
    } catch (err) {
      if (!res.headersSent) res.writeHead(502).end(String(err));
      return;
    }
    const rewrite = breakage.sseBlocks?.(req);
    const up = http.request(`${upstream}${req.url}`, { method: req.method, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      if (!rewrite || !String(ur.headers['content-type']).includes('text/event-stream')) return void ur.pipe(res);
      onBlocks(
        ur,
        (block) => {
          const out = rewrite(block);
          if (out !== null) res.write(out);
        },
        (rest) => res.end(rest),
      );
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    up.end(body);
  });
  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (client) => {
      const target = new WebSocket(`${upstream.replace(/^http/, 'ws')}${req.url}`);
      const queued: string[] = [];
      let first = true;
      client.on('message', (data) => {
        let text = data.toString();
        if (first && breakage.firstWsMessage) text = JSON.stringify(breakage.firstWsMessage(String(req.url), JSON.parse(text)));
        first = false;
        if (target.readyState === WebSocket.OPEN) target.send(text);
        else queued.push(text);
      });
      target.on('open', () => {
        for (const q of queued.splice(0)) target.send(q);
      });
      target.on('message', (data) => client.send(data.toString()));
      target.on('close', (code) => client.close(code >= 1000 && code < 5000 && code !== 1005 && code !== 1006 ? code : 1000));
      client.on('close', () => target.close());
      target.on('error', () => client.terminate());
      client.on('error', () => target.terminate());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      for (const c of wss.clients) c.terminate();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Calls `onBlock` for each SSE block (up to and with its blank line) of a response, `onEnd` with what is left. */
function onBlocks(res: IncomingMessage, onBlock: (block: string) => void, onEnd: (rest: string) => void): void {
  let buffer = '';
  res.setEncoding('utf8');
  res.on('data', (text: string) => {
    buffer += text;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      onBlock(buffer.slice(0, end + 2));
      buffer = buffer.slice(end + 2);
    }
  });
  res.on('end', () => onEnd(buffer));
}

/** Reads one upstream SSE response, calling `onBlock` per block; resolves at its end. */
function readUpstreamSse(url: string, body: unknown, onBlock: (block: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' } }, (res) => {
      onBlocks(res, onBlock, () => resolve());
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const dataOf = (block: string): any => {
  const line = block.split('\n').find((l) => l.startsWith('data: '));
  try {
    return line ? JSON.parse(line.slice(6)) : undefined;
  } catch {
    return undefined;
  }
};

/** (1) Streams the models of a /compare-stream one after another, each run to its end before the next. */
export const sequentialModels: Breakage = {
  async request(req, res, body, upstream) {
    if (req.method !== 'POST' || !req.url?.startsWith('/compare-stream') || req.headers['last-event-id']) return false;
    const request = JSON.parse(body.toString());
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    const started = Date.now();
    let ok = 0;
    for (const [i, model] of (request.models as string[]).entries()) {
      await readUpstreamSse(`${upstream}/compare-stream`, { ...request, models: [model] }, (block) => {
        const data = dataOf(block);
        if (data?.type === 'complete' || (data?.type === 'comparison' && i > 0)) return;
        if (data?.type === 'done' && !data.error) ok++;
        res.write(block);
      });
    }
    const n = request.models.length;
    res.end(
      `data: ${JSON.stringify({ type: 'complete', status: 'completed', metadata: { input_length: String(request.input_data).length, models_requested: n, models_successful: ok, models_failed: n - ok, timestamp: new Date().toISOString(), processing_time_ms: Date.now() - started } })}\n\n`,
    );
    return true;
  },
};

/** (3) On a resumed stream (Last-Event-ID), drops the second and third events after the recovery. */
export const dropsOnReconnect: Breakage = {
  sseBlocks(req) {
    if (!req.headers['last-event-id']) return undefined;
    let events = 0;
    let dropping = false;
    return (block) => {
      const data = dataOf(block);
      if (block.includes('event: position')) {
        const drop = dropping;
        dropping = false;
        return drop ? null : block;
      }
      if (data === undefined || data.type === 'recovery') return block;
      events++;
      dropping = events === 2 || events === 3;
      return dropping ? null : block;
    };
  },
};

/** (5) The seed WebSocket forgets the client's `lastSeq`. */
export const ignoresLastSeq: Breakage = {
  firstWsMessage(path, message) {
    if (path.startsWith('/v2/realtime/stream') && message && typeof message === 'object') delete message.lastSeq;
    return message;
  },
};

/** (6) Past `limit` streams in flight, /compare-stream answers 503. */
export function fails5xxUnderLoad(limit: number): Breakage {
  let inFlight = 0;
  return {
    request(req, res) {
      if (!req.url?.startsWith('/compare-stream')) return false;
      if (inFlight >= limit) {
        res.writeHead(503, { 'Content-Type': 'application/json' }).end('{"code":"overloaded","message":"Too busy."}');
        return true;
      }
      inFlight++;
      res.on('close', () => inFlight--);
      return false;
    },
  };
}
