import { afterAll, describe, expect, it } from 'vitest';
import { PrivateRedis } from './support/private-redis.js';
import { publish, RawWs, startRealtimeServer } from './support/realtime.js';
import type { TestServer } from './support/server.js';
import { postJson, sseRequest } from './support/sse-client.js';

describe('the stream log while Redis stops and comes back', () => {
  let redis: PrivateRedis | undefined;
  let server: TestServer | undefined;
  afterAll(async () => {
    await server?.close();
    await redis?.stop();
  });

  it('readiness flips, publishes and new streams answer 503 dependency_unavailable, clients are told, and delivery resumes without a restart', async () => {
    redis = await PrivateRedis.start();
    server = await startRealtimeServer({ redis: { url: redis.url, keyPrefix: 'outage:' } });
    const { url } = server;
    expect((await fetch(`${url}/ready`)).status).toBe(200);
    const ws = await RawWs.native(url);
    ws.send({ type: 'subscribe', id: 1, channel: 'public:o' });
    await ws.next((m) => m.type === 'subscribed');
    expect((await publish(url, { channel: 'public:o', data: { before: true } })).status).toBe(200);
    await ws.next((m) => m.type === 'pub' && m.seq === 1);

    await redis.stop();
    // The connected client is told: its socket closes with the "reconnect and resume" code.
    expect(await Promise.race([ws.closed, new Promise((r) => setTimeout(() => r('still open'), 10_000))])).toMatchObject({ code: 1012 });
    await expect.poll(async () => (await fetch(`${url}/ready`)).status, { timeout: 10_000 }).toBe(503);
    const ready = await (await fetch(`${url}/ready`)).json();
    expect(ready).toMatchObject({ code: 'dependency_unavailable', dependency: 'redis' });
    const refused = await publish(url, { channel: 'public:o', data: { during: true } });
    expect(refused).toMatchObject({ status: 503, json: { code: 'dependency_unavailable', dependency: 'redis' } });
    const sse = await sseRequest(`${url}/v1/subscribe?channels=public:o`, { until: () => 'stop' });
    expect(sse.status).toBe(503);
    const compare = await postJson(`${url}/v1/comparisons`, { prompt: 'hi', models: ['demo/fast'], tier: 'brief' });
    expect(compare).toMatchObject({ status: 503, json: { code: 'dependency_unavailable' } });
    const again = await RawWs.native(url);
    again.send({ type: 'subscribe', id: 2, channel: 'public:o' });
    expect(await again.next((m) => m.type === 'error' || m.type === 'subscribed')).toMatchObject({ type: 'error', code: 'dependency_unavailable' });
    again.close();
    const seed = await RawWs.open(`${url.replace(/^http/, 'ws')}/v2/realtime/stream`);
    seed.send({ services: ['finance'], version: 1 });
    expect(await seed.next((m) => m.type === 'error' || m.type === 'ack')).toMatchObject({ type: 'error', code: 'dependency_unavailable' });
    expect(await seed.closed).toMatchObject({ code: 1012 });

    await redis.resume();
    await expect.poll(async () => (await fetch(`${url}/ready`)).status, { timeout: 15_000 }).toBe(200);
    const back = await RawWs.native(url);
    back.send({ type: 'subscribe', id: 3, channel: 'public:o' });
    await back.next((m) => m.type === 'subscribed');
    const after = await publish(url, { channel: 'public:o', data: { after: true } });
    expect(after.status).toBe(200);
    // This Redis kept nothing: the channel starts a new epoch, which resumers are told about.
    expect(await back.next((m) => m.type === 'pub')).toMatchObject({ seq: after.json.seq, data: { after: true } });
    back.close();
  }, 60_000);
});
