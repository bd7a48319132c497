import { Worker } from 'node:worker_threads';
import { MOCK_KEYS } from './mock-upstream-server.js';

export { MOCK_KEYS };
export type Dialect = 'openai' | 'anthropic';

/** One chat request the mock received, with what happened to its socket (times in this thread's performance.now()). */
export interface Exchange {
  model: string;
  body: any;
  headers: Record<string, string | string[] | undefined>;
  receivedAt: number;
  /** When the response was fully written. */
  finishedAt?: number;
  /** When the TCP connection carrying it was closed by us (FIN received, or closed). */
  socketClosedAt?: number;
  socketClosed: Promise<number>;
}

/**
 * A local provider speaking one dialect's real wire format over real HTTP, in a worker
 * thread (its own event loop, so socket closes are seen when they happen). The upstream
 * model id picks the behaviour (see mock-upstream-server.js):
 *   ok / slow (200 pieces, 20 ms apart) / think (reasoning first) / trunc (output limit)
 *   e404 / e429 (Retry-After: 7) / e500 / context — the provider's error response
 *   e429-once / e500-once — that error first, then the answer
 *   hang (headers, then nothing) / stall (three pieces, then silence) / reset (three pieces,
 *   then a TCP reset) / malformed (three pieces, then a data line that is not JSON)
 *   bulk — 1,024 pieces of 16 KiB written at once (BULK_PIECES), for backpressure
 *   edgetext — a NUL, a surrogate pair split over two pieces, then a lone low surrogate
 *   tool — with tools offered, calls get_weather (wire-formats.js TOOL_CALL); after its result, answers quoting it
 * A wrong API key gets the provider's 401.
 */
export async function startMockUpstream(dialect: Dialect, opts: { listed?: string[]; chunkDelayMs?: number } = {}) {
  const worker = new Worker(new URL('./mock-upstream-server.js', import.meta.url), { workerData: { mockUpstream: { dialect, ...opts } } });
  const exchanges: Exchange[] = [];
  const bySocket = new Map<number, Exchange[]>();
  const closedSockets = new Map<number, number>();
  const closers = new Map<number, (t: number) => void>();
  const counts = new Map<string, number>();
  let listings = 0;
  const local = (wall: number) => wall - performance.timeOrigin;

  const port = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (msg) => {
      switch (msg.type) {
        case 'listening':
          return resolve(msg.port);
        case 'listing':
          listings++;
          return;
        case 'exchange': {
          let resolveClosed!: (t: number) => void;
          const e: Exchange = {
            model: msg.model,
            body: msg.body,
            headers: msg.headers,
            receivedAt: local(msg.at),
            socketClosed: new Promise((r) => (resolveClosed = r)),
          };
          void e.socketClosed.then((t) => (e.socketClosedAt = t));
          exchanges[msg.exchange] = e;
          counts.set(e.model, (counts.get(e.model) ?? 0) + 1);
          const already = closedSockets.get(msg.socket);
          if (already !== undefined) resolveClosed(already);
          else {
            const list = bySocket.get(msg.socket) ?? [];
            list.push(e);
            bySocket.set(msg.socket, list);
            closers.set(msg.exchange, resolveClosed);
            (e as any).close = resolveClosed;
          }
          return;
        }
        case 'finished':
          if (exchanges[msg.exchange]) exchanges[msg.exchange]!.finishedAt = local(msg.at);
          return;
        case 'socket-closed': {
          const t = local(msg.at);
          closedSockets.set(msg.socket, t);
          for (const e of bySocket.get(msg.socket) ?? []) (e as any).close(t);
          bySocket.delete(msg.socket);
          return;
        }
      }
    });
  });
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    /** The base URL a provider config takes for this dialect. */
    baseUrl: dialect === 'openai' ? `${origin}/v1` : origin,
    exchanges,
    /** Chat requests received per upstream model id. */
    count: (model: string) => counts.get(model) ?? 0,
    listings: () => listings,
    /** Resolves with the first exchange for `model` (waits for it to arrive). */
    async exchange(model: string, timeoutMs = 10_000): Promise<Exchange> {
      const until = performance.now() + timeoutMs;
      for (;;) {
        const found = exchanges.find((e) => e?.model === model);
        if (found) return found;
        if (performance.now() > until) throw new Error(`mock never received a request for ${model}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    async close(): Promise<void> {
      const closed = new Promise<void>((resolve) => worker.on('message', (m) => m.type === 'closed' && resolve()));
      worker.postMessage('close');
      await closed;
      await worker.terminate();
    },
  };
}

export type MockUpstream = Awaited<ReturnType<typeof startMockUpstream>>;
