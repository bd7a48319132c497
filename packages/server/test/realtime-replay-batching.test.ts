import { WebSocketServer } from 'ws';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { RealtimeClient, type ChannelEvent, type Recovery, type WebSocketConstructor } from '../../client/src/index.js';
import { BATCH_FRAME_BYTES } from '../src/transports/ws-batch.js';
import { metrics, publish, RawWs, startRealtimeServer } from './support/realtime.js';
import type { TestServer } from './support/server.js';

const WS = WebSocket as unknown as WebSocketConstructor;
const seqs = (n: number, from = 1) => Array.from({ length: n }, (_, i) => from + i);

async function publishMany(url: string, channel: string, n: number, bytes = 200): Promise<string> {
  let epoch = '';
  for (let i = 0; i < n; i += 500) {
    const events = Array.from({ length: Math.min(500, n - i) }, (_, k) => ({ channel, data: { i: i + k + 1, pad: 'p'.repeat(bytes) } }));
    const { status, json } = await publish(url, { events });
    if (status !== 200) throw new Error(`publish ${status}`);
    epoch = json.results[0].epoch;
  }
  return epoch;
}

/** Native WebSocket replays leave as newline-separated batches; live events one per frame. */
describe('batched replay on the native WebSocket', () => {
  let server: TestServer | undefined;
  let client: RealtimeClient | undefined;
  afterEach(async () => {
    client?.close();
    client = undefined;
    await server?.close();
    server = undefined;
  });

  it('packs a replay into bounded frames of several messages, in order, then sends live events one per frame', async () => {
    server = await startRealtimeServer();
    await publishMany(server.url, 'public:r', 3_000);
    const ws = await RawWs.native(server.url, undefined, { perMessageDeflate: false });
    const sizes: number[] = [];
    ws.ws.on('message', (data: Buffer) => sizes.push(data.length));
    ws.send({ type: 'subscribe', id: 1, channel: 'public:r', from: 'start' });
    const pubs = await ws.until((m) => m.type === 'pub', 3_000);
    expect(pubs.map((m) => m.seq)).toEqual(seqs(3_000));
    expect(pubs.map((m) => m.data.i)).toEqual(seqs(3_000));
    // The answer comes first, alone; the replay shares frames, none above the bound.
    expect(ws.messages[1]).toMatchObject({ type: 'subscribed', id: 1, recovered: true, replayed: 3_000 });
    const replayFrames = ws.frameSizes.slice(2);
    expect(replayFrames.reduce((a, b) => a + b, 0)).toBe(3_000);
    expect(replayFrames.length).toBeLessThan(30);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(BATCH_FRAME_BYTES);

    await publish(server.url, { channel: 'public:r', data: { i: 3_001 } });
    await publish(server.url, { channel: 'public:r', data: { i: 3_002 } });
    const live = await ws.until((m) => m.type === 'pub', 3_002);
    expect(live.slice(-2).map((m) => m.seq)).toEqual([3_001, 3_002]);
    expect(ws.frameSizes.slice(-2)).toEqual([1, 1]);
    expect((await metrics(server.url)).missedEventsReplayed).toBe(3_000);
    ws.close();
  });

  it('deflates batched frames for a client that negotiated permessage-deflate', async () => {
    server = await startRealtimeServer();
    await publishMany(server.url, 'public:z', 1_000);
    const ws = await RawWs.native(server.url); // ws negotiates permessage-deflate by default
    ws.send({ type: 'subscribe', channel: 'public:z', from: 'start' });
    const pubs = await ws.until((m) => m.type === 'pub', 1_000);
    expect(pubs.map((m) => m.seq)).toEqual(seqs(1_000));
    expect(ws.frameSizes.length).toBeLessThan(20);
    expect((await metrics(server.url)).compressedMessages).toBeGreaterThan(0);
    ws.close();
  });

  it('the SDK takes a batched replay in order, exactly once, then live events', async () => {
    server = await startRealtimeServer();
    const epoch = await publishMany(server.url, 'public:sdk', 2_500, 50);
    client = new RealtimeClient({ url: server.url, WebSocket: WS });
    const events: ChannelEvent<{ i: number }>[] = [];
    const answers: Recovery[] = [];
    client.subscribe<{ i: number }>('public:sdk', { position: { epoch, seq: 500 }, onEvent: (e) => events.push(e), onRecovery: (a) => answers.push(a) });
    await expect.poll(() => events.length).toBe(2_000);
    expect(client.transportName).toBe('websocket');
    expect(answers).toEqual([expect.objectContaining({ recovered: true, replayed: 2_000 })]);
    await publish(server.url, { channel: 'public:sdk', data: { i: 2_501 } });
    await expect.poll(() => events.length).toBe(2_001);
    expect(events.map((e) => e.seq)).toEqual(seqs(2_001, 501));
  });

  it('the SDK splits a frame of several messages and drops duplicates by position', async () => {
    // A scripted server: the replay frame repeats events the client already has.
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    const pub = (seq: number) => JSON.stringify({ type: 'pub', channel: 'public:d', epoch: 'e1', seq, event: 'message', data: { seq }, time: 0 });
    wss.on('connection', (sock) =>
      sock.on('message', (raw) => {
        const m = JSON.parse(String(raw));
        if (m.type === 'connect') sock.send(JSON.stringify({ type: 'connected', version: 1, sub: null, pingIntervalMs: 25_000 }));
        if (m.type === 'subscribe') {
          sock.send(
            [
              JSON.stringify({ type: 'subscribed', channel: 'public:d', recovered: true, top: { epoch: 'e1', seq: 5 }, replayed: 3 }),
              pub(3),
              pub(4),
              pub(3),
              pub(5),
            ].join('\n'),
          );
          sock.send([pub(4), pub(5), pub(6)].join('\n'));
        }
      }),
    );
    try {
      const { port } = wss.address() as { port: number };
      client = new RealtimeClient({ url: `http://127.0.0.1:${port}`, WebSocket: WS });
      const got: number[] = [];
      client.subscribe('public:d', { position: { epoch: 'e1', seq: 2 }, onEvent: (e) => got.push(e.seq) });
      await expect.poll(() => got).toEqual([3, 4, 5, 6]);
    } finally {
      client?.close();
      client = undefined;
      await new Promise((r) => wss.close(r));
    }
  });
});
