import http from 'node:http';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { Backoff, RealtimeClient, type ChannelEvent, type Recovery, type WebSocketConstructor } from '../../client/src/index.js';
import { mintToken, publish, publishN, startRealtimeServer } from './support/realtime.js';
import type { TestServer } from './support/server.js';

const WS = WebSocket as unknown as WebSocketConstructor;

describe('realtime client SDK', () => {
  let server: TestServer | undefined;
  let client: RealtimeClient | undefined;
  afterEach(async () => {
    client?.close();
    await server?.close();
    server = undefined;
  });

  async function collect(c: RealtimeClient, channel: string, opts: { position?: { epoch: string; seq: number } } = {}) {
    const events: ChannelEvent<{ i: number }>[] = [];
    const answers: Recovery[] = [];
    const sub = c.subscribe<{ i: number }>(channel, { ...opts, onEvent: (e) => events.push(e), onRecovery: (a) => answers.push(a) });
    await expect.poll(() => answers.length).toBeGreaterThan(0);
    return { events, answers, sub };
  }

  it.each([
    [['websocket', 'sse', 'poll'], 'sse'],
    [['websocket', 'poll'], 'poll'],
  ] as const)('falls back from WebSocket when the flag disables it (%j → %s)', async (transports, expected) => {
    server = await startRealtimeServer({ flags: { websocket: false } });
    client = new RealtimeClient({ url: server.url, WebSocket: WS, transports: [...transports], pollTimeoutMs: 500 });
    const { events } = await collect(client, 'public:fallback');
    expect(client.transportName).toBe(expected);
    await publishN(server.url, 'public:fallback', 3);
    await expect.poll(() => events.map((e) => e.data.i)).toEqual([1, 2, 3]);
  });

  it('uses WebSocket when it can, resumes each channel from its own position after a drop, and hands no event twice', async () => {
    server = await startRealtimeServer();
    client = new RealtimeClient({ url: server.url, WebSocket: WS });
    const a = await collect(client, 'public:a');
    const b = await collect(client, 'public:b');
    expect(client.transportName).toBe('websocket');
    await publishN(server.url, 'public:a', 2);
    await expect.poll(() => a.events.length).toBe(2);
    client.close();
    // Offline: more events on both channels.
    await publishN(server.url, 'public:a', 3, 3);
    await publishN(server.url, 'public:b', 2);
    client = new RealtimeClient({ url: server.url, WebSocket: WS, transports: ['sse'] });
    const a2 = await collect(client, 'public:a', { position: a.sub.position! });
    const b2 = await collect(client, 'public:b', { position: b.sub.position! });
    await expect.poll(() => a2.events.map((e) => e.data.i)).toEqual([3, 4, 5]);
    await expect.poll(() => b2.events.map((e) => e.seq)).toEqual([1, 2]);
    expect(a2.answers[0]).toMatchObject({ recovered: true, replayed: 3 });
  });

  it('reports recovered:false to the application, and refused channels as errors', async () => {
    server = await startRealtimeServer();
    await publishN(server.url, 'public:r', 2);
    client = new RealtimeClient({ url: server.url, WebSocket: WS, token: () => mintToken({ sub: 'u1', org: 'acme' }) });
    const stale = await collect(client, 'public:r', { position: { epoch: 'gone', seq: 7 } });
    expect(stale.answers[0]).toMatchObject({ recovered: false, reason: 'epoch_changed', top: { seq: 2 } });
    const errors: { code: string }[] = [];
    client.subscribe('org:other:x', { onEvent: () => undefined, onError: (e) => errors.push(e) });
    await expect.poll(() => errors).toEqual([expect.objectContaining({ code: 'channel_forbidden' })]);
    const own = await collect(client, 'org:acme:x');
    expect(own.answers[0]!.recovered).toBe(true);
  });

  it.each(['sse', 'poll'] as const)('over %s a refused channel is an error for that channel only; the others go on', async (transport) => {
    server = await startRealtimeServer();
    client = new RealtimeClient({ url: server.url, transports: [transport], pollTimeoutMs: 500 });
    const ok = await collect(client, 'public:ok');
    const errors: { code: string }[] = [];
    client.subscribe('org:other:x', { onEvent: () => undefined, onError: (e) => errors.push(e) });
    client.subscribe('not a channel', { onEvent: () => undefined, onError: (e) => errors.push(e) });
    await expect.poll(() => errors.map((e) => e.code).sort()).toEqual(['channel_forbidden', 'invalid_channel']);
    await publishN(server.url, 'public:ok', 2);
    await expect.poll(() => ok.events.map((e) => e.data.i)).toEqual([1, 2]);
    expect(client.transportName).toBe(transport);
  });

  it('reconnects when the watchdog hears nothing, with jittered, capped backoff', async () => {
    // A server that answers an SSE stream's headers and then goes silent.
    let connections = 0;
    const silent = http.createServer((_req, res) => {
      connections++;
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(': hello\n\n');
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      client = new RealtimeClient({ url: `http://127.0.0.1:${port}`, transports: ['sse'], watchdogMs: 200, backoff: { initialMs: 10, maxMs: 50 } });
      client.subscribe('public:x', { onEvent: () => undefined });
      await expect.poll(() => connections, { timeout: 5_000 }).toBeGreaterThanOrEqual(3);
    } finally {
      client?.close();
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('backoff grows exponentially, is jittered, and never passes the cap', () => {
    const top = new Backoff({ initialMs: 100, maxMs: 1_000 }, () => 0.999_999);
    expect(Array.from({ length: 6 }, () => top.next())).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    const low = new Backoff({ initialMs: 100, maxMs: 1_000 }, () => 0);
    expect(low.next()).toBe(0);
    const real = new Backoff({ initialMs: 100, maxMs: 1_000 });
    const delays = Array.from({ length: 200 }, () => real.next());
    expect(Math.max(...delays)).toBeLessThanOrEqual(1_000);
    expect(new Set(delays).size).toBeGreaterThan(50);
    top.reset();
    expect(top.next()).toBe(100);
  });

  it('delivers typed events published by the server process itself', async () => {
    server = await startRealtimeServer();
    client = new RealtimeClient({ url: server.url, WebSocket: WS });
    const { events } = await collect(client, 'public:jobs');
    await server.app.ctx.realtime.publisher.publish({ channel: 'public:jobs', type: 'job.progress', data: { i: 42 } });
    await publish(server.url, { channel: 'public:jobs', type: 'job.done', data: { i: 43 } });
    await expect
      .poll(() => events.map((e) => [e.event, e.data.i]))
      .toEqual([
        ['job.progress', 42],
        ['job.done', 43],
      ]);
  });
});
