import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMocks } from './support/mock-providers.js';
import { startServer, type TestServer } from './support/server.js';
import { sseRequest, type TimedMessage } from './support/sse-client.js';
import { ANSWER_PIECES } from './support/wire-formats.js';

/** The bound: the upstream socket is closed within 50 ms of a cancel. */
const CLOSE_WITHIN_MS = 50;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('cancel reaches the upstream', () => {
  let server: TestServer;
  let mocks: Awaited<ReturnType<typeof startMocks>>;
  const agent = new http.Agent({ keepAlive: true });
  beforeAll(async () => {
    mocks = await startMocks({ chunkDelayMs: 25 });
    server = await startServer({ providers: mocks.config });
  });
  afterAll(async () => {
    agent.destroy();
    await server?.close();
    await mocks?.close();
  });

  /** Starts a comparison of both slow mocks, cancels it mid-stream; ms from DELETE to each upstream socket close. */
  async function cancelMidStream(): Promise<{ closes: number[]; messages: TimedMessage[] }> {
    const before = { openai: mocks.openai.exchanges.length, anthropic: mocks.anthropic.exchanges.length };
    const start = await fetch(`${server.url}/v1/comparisons`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'Count slowly', models: ['mockai/slow', 'mockant/slow'] }),
    });
    const { id } = await start.json();
    let cancelledAt = 0;
    const stream = await sseRequest(`${server.url}/v1/comparisons/${id}/stream`, {
      until: (_m, all) => {
        const deltas = all.filter((x) => x.event === 'model.delta');
        if (!cancelledAt && new Set(deltas.map((d) => d.json.model)).size === 2 && deltas.length >= 6) {
          cancelledAt = performance.now();
          // node:http on a warm keep-alive socket: the cancel itself should cost what a real client's does.
          http
            .request(`${server.url}/v1/comparisons/${id}`, { method: 'DELETE', agent })
            .on('response', (res) => res.resume())
            .end();
        }
      },
    });
    expect(cancelledAt).toBeGreaterThan(0);
    const exchanges = [mocks.openai.exchanges.slice(before.openai), mocks.anthropic.exchanges.slice(before.anthropic)].map(
      (list) => list.find((e) => e.model === 'slow')!,
    );
    const closes = await Promise.all(exchanges.map(async (e) => (await e.socketClosed) - cancelledAt));
    for (const e of exchanges) expect(e.finishedAt).toBeUndefined();
    return { closes, messages: stream.messages };
  }

  it('an explicit cancel of a comparison closes both upstream sockets at once', async () => {
    await cancelMidStream(); // warm-up: the first abort runs cold code paths (JIT, lazy modules)
    const runs: Awaited<ReturnType<typeof cancelMidStream>>[] = [];
    for (let i = 0; i < 5; i++) runs.push(await cancelMidStream());
    for (const { messages } of runs) {
      expect(messages.filter((m) => m.event === 'model.error').map((m) => m.json.error.code)).toEqual(['cancelled', 'cancelled']);
    }
    // The median of five runs: one sample on a shared 2-core machine (other test files run in
    // parallel) can catch a GC pause or a scheduler slice.
    for (const i of [0, 1]) expect(median(runs.map((r) => r.closes[i]!))).toBeLessThan(CLOSE_WITHIN_MS);
    console.log(
      `cancel → upstream socket closed in ${runs.map((r) => r.closes.map((ms) => ms.toFixed(1)).join('/')).join(', ')} ms (openai/anthropic), DELETE round trip included`,
    );
  });

  it('a client dropping /compare-stream does not touch the upstream: it streams to the end on a kept-alive socket', async () => {
    const before = mocks.openai.exchanges.length;
    const r = await sseRequest(`${server.url}/compare-stream`, {
      body: { input_data: 'Rivers, then drop', models: ['mockai/ok'] },
      until: (m) => (m.json?.type === 'chunk' ? 'drop' : undefined),
    });
    const id = r.headers['x-comparison-id'] as string;
    let snapshot: any;
    for (let i = 0; i < 200; i++) {
      snapshot = await (await fetch(`${server.url}/v1/comparisons/${id}`)).json();
      if (snapshot.status !== 'running') break;
      await new Promise((res) => setTimeout(res, 25));
    }
    expect(snapshot).toMatchObject({ status: 'completed', models: [{ status: 'ok', text: ANSWER_PIECES.join('') }] });
    const exchange = mocks.openai.exchanges.slice(before).find((e) => e.model === 'ok')!;
    // The mock ends its response a beat after [DONE]; the answer was already complete.
    for (let i = 0; i < 40 && exchange.finishedAt === undefined; i++) await new Promise((res) => setTimeout(res, 25));
    expect(exchange.finishedAt).toBeDefined();
    expect(exchange.socketClosedAt).toBeUndefined();
  });

  it.each(['mockai/slow', 'mockant/slow'])(
    'a client disconnecting from a streaming /v1/chat/completions (%s) closes the upstream socket at once',
    async (model) => {
      await disconnectMidStream(model); // warm-up, as above
      const runs: number[] = [];
      for (let i = 0; i < 5; i++) runs.push(await disconnectMidStream(model));
      expect(median(runs)).toBeLessThan(CLOSE_WITHIN_MS);
      console.log(`gateway client disconnect → upstream socket closed in ${runs.map((ms) => ms.toFixed(1)).join(', ')} ms (${model})`);
    },
  );

  async function disconnectMidStream(model: string): Promise<number> {
    const mock = model.startsWith('mockai') ? mocks.openai : mocks.anthropic;
    const before = mock.exchanges.length;
    const disconnectedAt = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, agent: false });
      req.on('error', () => undefined);
      req.on('response', (res) => {
        let frames = 0;
        res.on('data', (d: Buffer) => {
          frames += d.toString().split('\n\n').length - 1;
          if (frames >= 5) {
            const t = performance.now();
            req.destroy();
            resolve(t);
          }
        });
        res.on('error', () => undefined);
        res.on('end', () => reject(new Error('the stream ended before the client left')));
      });
      req.end(JSON.stringify({ model, messages: [{ role: 'user', content: 'Count' }], stream: true }));
    });
    const exchange = mock.exchanges.slice(before).find((e) => e.model === 'slow')!;
    const ms = (await exchange.socketClosed) - disconnectedAt;
    expect(exchange.finishedAt).toBeUndefined();
    return ms;
  }
});
