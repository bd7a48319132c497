import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { metrics, publish, RawWs, startRealtimeServer } from './support/realtime.js';
import { sseRequest } from './support/sse-client.js';

const LIMIT = 256 * 1024;

describe('slow consumers', () => {
  it('cuts a WebSocket client that stops reading with 4008, counted, its buffer bounded, while others get everything', async () => {
    const server = await startRealtimeServer({ streams: { subscriberBufferBytes: LIMIT } });
    try {
      const fast = await RawWs.native(server.url);
      const slow = await RawWs.native(server.url, undefined, { perMessageDeflate: false });
      for (const c of [fast, slow]) {
        c.send({ type: 'subscribe', channel: 'public:firehose' });
        await c.next((m) => m.type === 'subscribed');
      }
      (slow.ws as any)._socket.pause(); // stops reading: the kernel buffers fill, then the server's
      const payload = 'x'.repeat(30_000);
      let sent = 0;
      // Bounded: at most 100 MB, stop as soon as the server gave up on the slow client.
      while ((await metrics(server.url)).slowConsumerDisconnects === 0 && sent < 3_000) {
        // Bursts below the limit: a client that reads keeps up with them.
        await publish(server.url, { events: Array.from({ length: 5 }, () => ({ channel: 'public:firehose', data: { payload } })) });
        sent += 5;
      }
      const m = await metrics(server.url);
      expect(m.slowConsumerDisconnects).toBe(1);
      // The buffer never grew past the limit by more than the one frame that crossed it.
      expect(m.peakSlowConsumerBufferBytes).toBeGreaterThan(LIMIT);
      expect(m.peakSlowConsumerBufferBytes).toBeLessThan(LIMIT + 31_000);
      expect(m.subscribers).toBe(1); // the hub no longer holds the slow one
      const before = process.memoryUsage().rss;
      for (let i = 0; i < 10; i++) {
        await publish(server.url, { events: Array.from({ length: 5 }, () => ({ channel: 'public:firehose', data: { payload } })) });
        sent += 5;
      }
      expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);

      (slow.ws as any)._socket.resume();
      expect((await slow.closed).code).toBe(4008);
      const got = await fast.until((x) => x.type === 'pub', sent, 20_000);
      expect(got.map((x) => x.seq)).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
      fast.close();
    } finally {
      await server.close();
    }
  });

  it('cuts a multi-channel SSE client that stops reading, and it resumes every channel from its last id', async () => {
    const server = await startRealtimeServer({ streams: { subscriberBufferBytes: LIMIT } });
    try {
      const { port } = new URL(server.url);
      const socket = net.connect(Number(port), '127.0.0.1');
      socket.write('GET /v1/subscribe?channels=public:a,public:b HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
      let raw = '';
      socket.on('data', (chunk) => {
        raw += chunk.toString();
      });
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      await expect.poll(() => raw.includes('event: recovery')).toBe(true);
      socket.pause();
      const payload = 'y'.repeat(30_000);
      const tops = { 'public:a': 0, 'public:b': 0 };
      while ((await metrics(server.url)).slowConsumerDisconnects === 0 && tops['public:a'] < 3_000) {
        const { json } = await publish(server.url, {
          events: Array.from({ length: 6 }, (_, i) => ({ channel: i % 2 ? 'public:a' : 'public:b', data: { payload } })),
        });
        for (const r of json.results) tops[r.channel as keyof typeof tops] = r.seq;
      }
      const m = await metrics(server.url);
      expect(m.slowConsumerDisconnects).toBe(1);
      expect(m.peakSlowConsumerBufferBytes).toBeLessThan(LIMIT + 31_000);
      expect(m.connectionsByTransport.sse).toBe(0);
      socket.resume();
      await closed;
      const ids = [...raw.matchAll(/^id: (.+)$/gm)].map((x) => x[1]!);
      const lastId = ids.at(-1)!;
      const seen = lastId.split(',').map((p) => Number(p.split(':')[1]));
      const resumed = await sseRequest(`${server.url}/v1/subscribe?channels=public:a,public:b`, {
        headers: { 'Last-Event-ID': lastId },
        until: (_x, all) =>
          all.filter((y) => y.event !== 'recovery').length === tops['public:a'] + tops['public:b'] - seen[0]! - seen[1]! ? 'stop' : undefined,
      });
      const answers = resumed.messages.filter((x) => x.event === 'recovery').map((x) => x.json);
      expect(answers).toEqual([
        expect.objectContaining({ channel: 'public:a', recovered: true, replayed: tops['public:a'] - seen[0]! }),
        expect.objectContaining({ channel: 'public:b', recovered: true, replayed: tops['public:b'] - seen[1]! }),
      ]);
      const a = resumed.messages.filter((x) => x.json?.channel === 'public:a' && x.event !== 'recovery').map((x) => x.json.seq);
      expect(a).toEqual(Array.from({ length: tops['public:a'] - seen[0]! }, (_, i) => seen[0]! + 1 + i));
    } finally {
      await server.close();
    }
  });
});
