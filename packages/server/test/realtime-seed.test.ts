import { afterEach, describe, expect, it } from 'vitest';
import type { TestServer } from './support/server.js';
import { metrics, mintToken, publish, RawWs, startRealtimeServer } from './support/realtime.js';

/** The seed's `/v2/realtime/stream` with a raw (wscat-style) client. */
describe('seed WebSocket protocol', () => {
  let server: TestServer;
  afterEach(async () => server?.close());
  const seedUrl = (query = '') => `${server.url.replace(/^http/, 'ws')}/v2/realtime/stream${query}`;

  async function handshake(body: unknown, query = '', opts = {}) {
    const ws = await RawWs.open(seedUrl(query), opts);
    ws.send(body);
    const ack = await ws.next((m) => m.type === 'ack' || m.type === 'error');
    return { ws, ack };
  }

  it('acks the handshake, pings at the configured interval, delivers published events, and replays after lastSeq', async () => {
    server = await startRealtimeServer({ realtime: { seedPingIntervalMs: 100 } });
    const { ws, ack } = await handshake({ services: ['finance'], version: 1 });
    expect(ack).toMatchObject({
      type: 'ack',
      seq: 0,
      services: ['finance'],
      channels: { finance: 'public:finance' },
      recovery: { finance: { recovered: true } },
    });
    expect(typeof ack.timestamp).toBe('string');
    const pings = await ws.until((m) => m.type === 'ping', 2, 3_000);
    expect(Number.isNaN(Date.parse(pings[0].timestamp))).toBe(false);

    const sent = await publish(server.url, { channel: 'public:finance', type: 'revenue.created', data: { amount: 10_000, n: 1 } });
    expect(sent.status).toBe(200);
    const event = await ws.next((m) => m.type === 'event');
    expect(event).toMatchObject({ type: 'event', service: 'finance', seq: 1, events: [{ seq: 1, type: 'revenue.created', data: { amount: 10_000, n: 1 } }] });
    ws.close();
    await ws.closed;

    for (let n = 2; n <= 4; n++) await publish(server.url, { channel: 'public:finance', data: { n } });
    await publish(server.url, { channel: 'public:guest', data: { n: 1 } });
    // lastSeq as a number applies to every service; as a map, per service.
    const again = await handshake({ services: ['finance', 'guest'], version: 1, lastSeq: { finance: 1, guest: 0 } });
    const events = again.ws.messages.filter((m) => m.type === 'event');
    expect(events.filter((m) => m.service === 'finance').map((m) => [m.seq, m.events[0].data.n])).toEqual([
      [2, 2],
      [3, 3],
      [4, 4],
    ]);
    expect(events.filter((m) => m.service === 'guest').map((m) => m.seq)).toEqual([1]);
    expect(again.ack.recovery).toMatchObject({ finance: { recovered: true, replayed: 3 }, guest: { recovered: true, replayed: 1 } });
    // One JSON per frame, as the seed protocol says (native replays are batched; these are not).
    expect(again.ws.frameSizes.every((n) => n === 1)).toBe(true);
    // Events come before the ack, in order.
    expect(again.ws.messages.findIndex((m) => m.type === 'ack')).toBeGreaterThan(again.ws.messages.findIndex((m) => m.seq === 4));
    const m = await metrics(server.url);
    expect(m.missedEventsReplayed).toBe(4);
    expect(m.eventsDelivered).toBe(5);
    again.ws.close();
  });

  it('says recovered:false when lastSeq is ahead of the channel or its epoch is gone', async () => {
    server = await startRealtimeServer();
    await publish(server.url, { channel: 'public:finance', data: {} });
    const { ack, ws } = await handshake({ services: ['finance'], version: 1, lastSeq: 9 });
    expect(ack.recovery.finance).toMatchObject({ recovered: false, reason: 'ahead_of_top', top: { seq: 1 } });
    ws.close();
    const other = await handshake({ services: ['finance'], version: 1, lastSeq: 1, epochs: { finance: 'oldEpoch' } });
    expect(other.ack.recovery.finance).toMatchObject({ recovered: false, reason: 'epoch_changed' });
    other.ws.close();
  });

  it('maps services to the org channel of a token and refuses what the token may not read', async () => {
    server = await startRealtimeServer();
    const token = await mintToken({ sub: 'u1', org: 'acme' });
    const { ws, ack } = await handshake({ services: ['finance'], version: 1 }, `?access_token=${token}`);
    expect(ack.channels).toEqual({ finance: 'org:acme:finance' });
    await publish(server.url, { channel: 'public:finance', data: { wrong: true } });
    await publish(server.url, { channel: 'org:acme:finance', data: { right: true } });
    const event = await ws.next((m) => m.type === 'event');
    expect(event.events[0].data).toEqual({ right: true });
    ws.close();

    const limited = await mintToken({ sub: 'u2', org: 'acme', channels: ['org:acme:guest'] });
    const second = await handshake({ services: ['finance', 'guest'], version: 1 }, `?access_token=${limited}`);
    expect(second.ack.type).toBe('error');
    expect(second.ack).toMatchObject({ code: 'channel_forbidden', service: 'finance' });
    const ack2 = await second.ws.next((m) => m.type === 'ack');
    expect(ack2).toMatchObject({ services: ['guest'], forbidden: ['finance'] });
    second.ws.close();
  });

  it('compresses large events once for every receiver, and counts one broker subscription per channel', async () => {
    server = await startRealtimeServer({ realtime: { compressionThresholdBytes: 1_024 } });
    const clients = await Promise.all(
      Array.from({ length: 20 }, (_, i) => handshake({ services: i % 2 ? ['finance', 'guest'] : ['finance', 'staff'], version: 1 })),
    );
    const plain = await handshake({ services: ['finance'], version: 1 }, '', { perMessageDeflate: false });
    const before = await metrics(server.url);
    expect(before.connectionPoolStats).toEqual({ totalSubscriptions: 3, totalConnections: 21, totalOrgs: 0 });
    expect(before.activeConnections).toBe(21);

    const big = { rows: Array.from({ length: 200 }, (_, i) => ({ id: i, status: 'checked-in', note: 'guest document scanned' })) };
    for (let i = 0; i < 3; i++) await publish(server.url, { channel: 'public:finance', data: { ...big, i } });
    await publish(server.url, { channel: 'public:finance', data: { small: true } });
    for (const c of [...clients, plain]) {
      const got = await c.ws.until((m) => m.type === 'event', 4);
      expect(got.slice(0, 3).map((m) => m.events[0].data.rows.length)).toEqual([200, 200, 200]);
    }
    const after = await metrics(server.url);
    expect(after.compressedMessages).toBe(3 * 20); // the client without deflate got them plain
    expect(after.compressionsPrepared).toBe(3); // deflated once per event, not once per receiver
    expect(after.eventsDelivered - before.eventsDelivered).toBe(4 * 21);
    for (const c of [...clients, plain]) c.ws.close();
    await Promise.all([...clients, plain].map((c) => c.ws.closed));
    await expect.poll(async () => (await metrics(server.url)).connectionPoolStats).toEqual({ totalSubscriptions: 0, totalConnections: 0, totalOrgs: 0 });
  });
});
