import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poll, RawWs, startRealtimeServer } from '../support/realtime.js';
import type { TestServer } from '../support/server.js';

/** Floods, cross-site hijacking and unbounded subscriptions on the realtime endpoints. */
describe('attack: WebSocket abuse', () => {
  let server: TestServer;
  let ws: string;
  beforeAll(async () => {
    server = await startRealtimeServer({
      realtime: { maxFramesPerSecond: 50, maxChannelsPerConnection: 10, allowedOrigins: ['https://app.example.com'] },
    });
    ws = server.url.replace(/^http/, 'ws');
  });
  afterAll(() => server.close());

  /** The HTTP status of an upgrade (101 when accepted). */
  function upgradeStatus(path: string, headers: Record<string, string>): Promise<number> {
    return new Promise((resolve) => {
      const client = new WebSocket(`${ws}${path}`, { headers });
      client.once('open', () => {
        client.close();
        resolve(101);
      });
      client.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        res.resume();
      });
      client.once('error', () => undefined);
    });
  }

  it.each(['/v1/ws', '/v2/realtime/stream'])('%s: a frame flood is cut with 4029 too_many_frames', async (path) => {
    const client = await RawWs.open(`${ws}${path}`);
    if (path === '/v1/ws') client.send({ type: 'connect', version: 1 });
    else client.send({ services: ['flood'], version: 1 });
    for (let i = 0; i < 2_000 && client.ws.readyState === WebSocket.OPEN; i++) client.send({ type: 'ping' });
    expect((await client.closed).code).toBe(4029);
    expect(client.messages.find((m) => m.type === 'error')).toMatchObject({ code: 'too_many_frames' });
  });

  it('a steady client under the rate is never cut', async () => {
    const client = await RawWs.native(server.url);
    for (let i = 0; i < 40; i++) {
      client.send({ type: 'ping', id: i });
      await new Promise((r) => setTimeout(r, 25)); // 40/s < 50/s
    }
    await client.next((m) => m.type === 'pong' && m.id === 39);
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    client.close();
  });

  it('cross-origin upgrade with a cookie → 403 origin_forbidden; same host, a listed origin, or no cookie → accepted', async () => {
    const host = new URL(server.url).host;
    for (const path of ['/v1/ws', '/v2/realtime/stream']) {
      expect(await upgradeStatus(path, { Origin: 'https://evil.example', Cookie: 'session=abc' })).toBe(403);
      expect(await upgradeStatus(path, { Origin: 'null', Cookie: 'session=abc' })).toBe(403);
      expect(await upgradeStatus(path, { Origin: `http://${host}`, Cookie: 'session=abc' })).toBe(101);
      expect(await upgradeStatus(path, { Origin: 'https://app.example.com', Cookie: 'session=abc' })).toBe(101);
      expect(await upgradeStatus(path, { Origin: 'https://evil.example' })).toBe(101);
    }
  });

  it('topics per connection and per request are capped (native, seed, SSE, long-poll)', async () => {
    const native = await RawWs.native(server.url);
    for (let i = 0; i < 12; i++) native.send({ type: 'subscribe', id: i, channel: `public:c${i}` });
    const errors = await native.until((m) => m.type === 'error', 2);
    expect(errors.every((e) => e.code === 'too_many_channels')).toBe(true);
    expect(native.messages.filter((m) => m.type === 'subscribed')).toHaveLength(10);
    native.close();

    const seed = await RawWs.open(`${ws}/v2/realtime/stream`);
    seed.send({ services: Array.from({ length: 11 }, (_, i) => `s${i}`), version: 1 });
    expect(await seed.next((m) => m.type === 'error')).toMatchObject({ code: 'too_many_channels' });
    expect((await seed.closed).code).toBe(4000);

    const many = Array.from({ length: 11 }, (_, i) => `public:c${i}`).join(',');
    const sse = await fetch(`${server.url}/v1/subscribe?channels=${many}`);
    expect({ status: sse.status, code: (await sse.json()).code }).toEqual({ status: 400, code: 'too_many_channels' });
    const answer = await poll(server.url, { channels: many });
    expect({ status: answer.status, code: answer.json.code }).toEqual({ status: 400, code: 'too_many_channels' });
  });
});
