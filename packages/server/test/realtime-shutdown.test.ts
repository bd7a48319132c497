import { describe, expect, it } from 'vitest';
import { publish, RawWs, startRealtimeServer } from './support/realtime.js';
import { sseRequest } from './support/sse-client.js';

describe('graceful shutdown of the realtime hub', () => {
  it('delivers everything published before shutdown, then tells WebSocket clients to reconnect (1012) and ends SSE', async () => {
    const server = await startRealtimeServer();
    const native = await RawWs.native(server.url);
    native.send({ type: 'subscribe', channel: 'public:s' });
    await native.next((m) => m.type === 'subscribed');
    const seed = await RawWs.open(`${server.url.replace(/^http/, 'ws')}/v2/realtime/stream`);
    seed.send({ services: ['s'], version: 1 });
    await seed.next((m) => m.type === 'ack');
    let sseOpen!: () => void;
    const sseReady = new Promise<void>((resolve) => {
      sseOpen = resolve;
    });
    const sse = sseRequest(`${server.url}/v1/subscribe?channels=public:s`, {
      until: (m) => {
        if (m.event === 'recovery') sseOpen();
      },
    });
    await sseReady;

    const { json } = await publish(server.url, { events: Array.from({ length: 300 }, (_, i) => ({ channel: 'public:s', data: { i, pad: 'z'.repeat(500) } })) });
    const epoch = json.results[0].epoch;
    await server.close(); // right after the publish answered: the frames may still be in buffers

    expect(await native.closed).toMatchObject({ code: 1012 });
    expect(native.messages.filter((m) => m.type === 'pub').map((m) => m.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(await seed.closed).toMatchObject({ code: 1012 });
    expect(seed.messages.filter((m) => m.type === 'event').length).toBe(300);
    const streamed = await sse;
    expect(streamed.ended).toBe(true);
    expect(streamed.messages.filter((m) => m.event !== 'recovery').map((m) => m.json.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(streamed.messages.at(-1)!.id).toBe(`${epoch}:300`);

    // A memory-backed restart loses history: the resume is told so, never a silent gap.
    const restarted = await startRealtimeServer();
    try {
      await publish(restarted.url, { channel: 'public:s', data: { after: true } });
      const again = await RawWs.native(restarted.url);
      again.send({ type: 'subscribe', channel: 'public:s', position: { epoch, seq: 300 } });
      expect(await again.next((m) => m.type === 'subscribed')).toMatchObject({ recovered: false, reason: 'epoch_changed', top: { seq: 1 } });
      again.close();
    } finally {
      await restarted.close();
    }
  });
});
