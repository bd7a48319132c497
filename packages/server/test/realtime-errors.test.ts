import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestServer } from './support/server.js';
import { startServer } from './support/server.js';
import { metrics, mintToken, poll, publish, RawWs, startRealtimeServer } from './support/realtime.js';

/** Bad input on every realtime surface gets a precise code, and never disturbs other clients. */
describe('realtime bad input', () => {
  let server: TestServer;
  let healthy: RawWs;
  beforeAll(async () => {
    server = await startRealtimeServer({ realtime: { maxFrameBytes: 4_096, maxEventBytes: 2_048, maxBatch: 10, maxChannelsPerConnection: 3 } });
    healthy = await RawWs.native(server.url);
    healthy.send({ type: 'subscribe', id: 1, channel: 'public:heartbeat' });
    await healthy.next((m) => m.type === 'subscribed');
  });
  afterAll(async () => {
    // The healthy client saw every event published during the whole file, in order, on one connection.
    const { json } = await publish(server.url, { channel: 'public:heartbeat', data: { last: true } });
    const pubs = await healthy.until((m) => m.type === 'pub' && m.seq === json.seq, 1);
    expect(pubs).toHaveLength(1);
    expect(healthy.messages.filter((m) => m.type === 'pub').map((m) => m.seq)).toEqual(Array.from({ length: json.seq }, (_, i) => i + 1));
    healthy.close();
    await server.close();
  });
  const beat = () => publish(server.url, { channel: 'public:heartbeat', data: {} });
  const wsUrl = (path = '/v1/ws') => `${server.url.replace(/^http/, 'ws')}${path}`;

  describe('native WebSocket', () => {
    it('refuses a channel the identity may not read, and keeps the connection', async () => {
      const anon = await RawWs.native(server.url);
      anon.send({ type: 'subscribe', id: 7, channel: 'org:acme:finance' });
      expect(await anon.next((m) => m.type === 'error')).toMatchObject({ id: 7, code: 'channel_forbidden', channel: 'org:acme:finance' });
      const token = await mintToken({ sub: 'u1', org: 'acme' });
      const member = await RawWs.native(server.url, token);
      const cases: [string, string][] = [
        ['org:other:finance', 'channel_forbidden'],
        ['user:u2', 'channel_forbidden'],
        ['nope:x', 'invalid_channel'],
        ['public:', 'invalid_channel'],
      ];
      for (const [channel, code] of cases) {
        member.send({ type: 'subscribe', id: channel, channel });
        expect(await member.next((m) => m.type === 'error' && m.id === channel)).toMatchObject({ code });
      }
      for (const channel of ['org:acme:finance', 'user:u1', 'public:news']) {
        member.send({ type: 'subscribe', id: channel, channel });
        expect(await member.next((m) => m.id === channel)).toMatchObject({ type: 'subscribed', recovered: true });
      }
      member.send({ type: 'subscribe', id: 'dup', channel: 'public:news' });
      expect(await member.next((m) => m.id === 'dup')).toMatchObject({ type: 'error', code: 'already_subscribed' });
      member.send({ type: 'subscribe', id: 'fourth', channel: 'public:more' });
      expect(await member.next((m) => m.id === 'fourth')).toMatchObject({ type: 'error', code: 'too_many_channels' });
      member.send({ type: 'unsubscribe', id: 'u', channel: 'public:never' });
      expect(await member.next((m) => m.id === 'u')).toMatchObject({ type: 'error', code: 'not_subscribed' });
      member.send({ type: 'ping', id: 'p' });
      expect(await member.next((m) => m.id === 'p')).toMatchObject({ type: 'pong' });
      await beat();
      anon.close();
      member.close();
    });

    it('answers unknown types and bad fields with an error frame and stays open', async () => {
      const c = await RawWs.native(server.url);
      c.send({ type: 'teleport', id: 1 });
      expect(await c.next((m) => m.type === 'error')).toMatchObject({ code: 'unknown_type', id: 1 });
      c.send({ type: 'subscribe', id: 2, channel: 'public:x', position: { epoch: 'e', seq: -1 } });
      expect(await c.next((m) => m.type === 'error' && m.id === 2)).toMatchObject({ code: 'invalid_field' });
      c.send({ type: 'subscribe', id: 3, channel: 'public:x', extra: true });
      expect(await c.next((m) => m.type === 'error' && m.id === 3)).toMatchObject({ code: 'invalid_field' });
      c.send({ type: 'subscribe', id: 4, channel: 'public:x' });
      expect(await c.next((m) => m.id === 4)).toMatchObject({ type: 'subscribed' });
      c.close();
    });

    it.each([
      ['malformed JSON', 'not json{', 4000, 'malformed_frame'],
      ['a JSON array', '[1,2]', 4000, 'malformed_frame'],
    ])('closes on %s with %i', async (_name, frame, code, errorCode) => {
      const c = await RawWs.native(server.url);
      c.send(frame);
      expect(await c.next((m) => m.type === 'error')).toMatchObject({ code: errorCode });
      expect(await c.closed).toMatchObject({ code });
      await beat();
    });

    it('closes before the handshake: subscribe first (4000), version 2 (4002), a bad token (4001), an expired token (4001)', async () => {
      const early = await RawWs.open(wsUrl());
      early.send({ type: 'subscribe', channel: 'public:x' });
      expect(await early.next((m) => m.type === 'error')).toMatchObject({ code: 'handshake_required' });
      expect((await early.closed).code).toBe(4000);

      const v2 = await RawWs.open(wsUrl());
      v2.send({ type: 'connect', version: 2 });
      expect(await v2.next((m) => m.type === 'error')).toMatchObject({ code: 'unsupported_version', supported: [1] });
      expect(await v2.closed).toEqual({ code: 4002, reason: 'unsupported_version' });

      const forged = await RawWs.open(wsUrl());
      forged.send({ type: 'connect', version: 1, token: await mintToken({ sub: 'u1' }, { secret: 'another-secret-0123456789abcdef' }) });
      expect(await forged.next((m) => m.type === 'error')).toMatchObject({ code: 'invalid_token' });
      expect((await forged.closed).code).toBe(4001);

      const expired = await RawWs.open(wsUrl());
      expired.send({ type: 'connect', version: 1, token: await mintToken({ sub: 'u1' }, { expiresIn: Math.floor(Date.now() / 1000) - 60 }) });
      expect(await expired.next((m) => m.type === 'error')).toMatchObject({ code: 'invalid_token', message: expect.stringMatching(/expired/) });
      expect((await expired.closed).code).toBe(4001);
      await beat();
    });

    it('closes an oversize frame with 1009 and a binary frame with 1003', async () => {
      const big = await RawWs.native(server.url);
      big.send({ type: 'ping', pad: 'x'.repeat(5_000) });
      expect((await big.closed).code).toBe(1009);
      const bin = await RawWs.native(server.url);
      bin.ws.send(Buffer.from([1, 2, 3]));
      expect((await bin.closed).code).toBe(1003);
      await beat();
    });
  });

  describe('seed WebSocket', () => {
    const seed = () => RawWs.open(wsUrl('/v2/realtime/stream'));
    it('closes a handshake with version 2 (4002), a malformed one (4000), an unknown field (4000)', async () => {
      const v2 = await seed();
      v2.send({ services: ['finance'], version: 2 });
      expect(await v2.next((m) => m.type === 'error')).toMatchObject({ code: 'unsupported_version' });
      expect((await v2.closed).code).toBe(4002);
      const bad = await seed();
      bad.send('{"services":');
      expect(await bad.next((m) => m.type === 'error')).toMatchObject({ code: 'malformed_frame' });
      expect((await bad.closed).code).toBe(4000);
      const unknown = await seed();
      unknown.send({ services: ['finance'], version: 1, lastseq: 3 });
      expect(await unknown.next((m) => m.type === 'error')).toMatchObject({ code: 'unknown_field', field: 'lastseq' });
      expect((await unknown.closed).code).toBe(4000);
      const noServices = await seed();
      noServices.send({ services: [], version: 1 });
      expect(await noServices.next((m) => m.type === 'error')).toMatchObject({ code: 'invalid_field', field: 'services' });
      await beat();
    });

    it('answers unknown message types after the handshake and stays open; refuses a bad access_token with 4001', async () => {
      const c = await seed();
      c.send({ services: ['finance'], version: 1 });
      await c.next((m) => m.type === 'ack');
      c.send({ type: 'rewind' });
      expect(await c.next((m) => m.type === 'error')).toMatchObject({ code: 'unknown_type' });
      c.send({ type: 'ping' });
      expect(await c.next((m) => m.type === 'pong')).toBeTruthy();
      c.close();
      const bad = await RawWs.open(wsUrl('/v2/realtime/stream?access_token=garbage'));
      bad.send({ services: ['finance'], version: 1 });
      expect(await bad.next((m) => m.type === 'error')).toMatchObject({ code: 'invalid_token' });
      expect((await bad.closed).code).toBe(4001);
    });
  });

  describe('HTTP', () => {
    it('authorises publishing with the publish key only', async () => {
      expect((await publish(server.url, { channel: 'public:x', data: 1 }, { Authorization: 'Bearer wrong' })).json.code).toBe('unauthorized');
      const res = await fetch(`${server.url}/v1/publish`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{"channel":"public:x","data":1}',
      });
      expect(res.status).toBe(401);
      const unconfigured = await startServer();
      try {
        const r = await publish(unconfigured.url, { channel: 'public:x', data: 1 });
        expect(r).toMatchObject({ status: 403, json: { code: 'publish_disabled' } });
      } finally {
        await unconfigured.close();
      }
    });

    it.each([
      [{ channel: 'finance', data: 1 }, 400, 'invalid_channel'],
      [{ channel: 'public:x' }, 400, 'invalid_field'],
      [{ channel: 'public:x', data: 1, type: 'recovery' }, 400, 'invalid_field'],
      [{ channel: 'public:x', data: 1, colour: 'red' }, 400, 'unknown_field'],
      [{ channel: 'public:x', data: 'y'.repeat(3_000) }, 413, 'event_too_large'],
      [{ events: Array.from({ length: 11 }, () => ({ channel: 'public:x', data: 1 })) }, 400, 'invalid_field'],
      [
        {
          events: [
            { channel: 'public:x', data: 1 },
            { channel: 'bad', data: 1 },
          ],
        },
        400,
        'invalid_channel',
      ],
    ])('refuses publish %j with %i %s', async (body, status, code) => {
      const before = (await metrics(server.url)).published;
      expect(await publish(server.url, body)).toMatchObject({ status, json: { code } });
      expect((await metrics(server.url)).published).toBe(before); // a refused batch publishes nothing
    });

    it('publishes a retried request with the same idempotency key once', async () => {
      const body = { channel: 'public:idem', data: { order: 1 } };
      const first = await publish(server.url, body, { 'Idempotency-Key': 'order-1' });
      const retry = await publish(server.url, body, { 'Idempotency-Key': 'order-1' });
      expect(first.json).toMatchObject({ seq: 1, duplicate: false });
      expect(retry.json).toEqual({ ...first.json, duplicate: true });
      const conflict = await publish(server.url, { ...body, data: { order: 2 } }, { 'Idempotency-Key': 'order-1' });
      expect(conflict).toMatchObject({ status: 409, json: { code: 'idempotency_conflict' } });
      const batch = await publish(server.url, {
        events: [
          { ...body, idempotencyKey: 'order-1' },
          { channel: 'public:idem', data: { order: 3 }, idempotencyKey: 'order-3' },
        ],
      });
      expect(batch.json.results.map((r: any) => [r.seq, r.duplicate])).toEqual([
        [1, true],
        [2, false],
      ]);
    });

    it('refuses bad SSE and poll requests with precise codes', async () => {
      const sse = async (query: string, headers: Record<string, string> = {}) => {
        const res = await fetch(`${server.url}/v1/subscribe?${query}`, { headers });
        return { status: res.status, json: await res.json() };
      };
      expect(await sse('channels=org:acme:x')).toMatchObject({ status: 403, json: { code: 'channel_forbidden' } });
      expect(await sse('channels=public:a,public:b', { 'Last-Event-ID': 'abc:1' })).toMatchObject({ status: 400, json: { code: 'invalid_position' } });
      expect(await sse('channels=public:a&token=bad')).toMatchObject({ status: 401, json: { code: 'invalid_token' } });
      expect(await sse('channels=public:a,public:b,public:c,public:d')).toMatchObject({ status: 400, json: { code: 'too_many_channels' } });
      expect(await sse('channels=public:a,public:a')).toMatchObject({ status: 400, json: { code: 'invalid_field' } });
      expect(await poll(server.url, { channels: 'public:a', cursor: 'x:y' })).toMatchObject({ status: 400, json: { code: 'invalid_position' } });
      expect(await poll(server.url, { channels: 'public:a', since: '1' })).toMatchObject({ status: 400, json: { code: 'unknown_field' } });
      const token = await mintToken({ sub: 'u1', org: 'acme' });
      const ok = await poll(server.url, { channels: 'org:acme:x', token });
      expect(ok).toMatchObject({ status: 200, json: { channels: [{ channel: 'org:acme:x', recovered: true }] } });
    });

    it('refuses WebSocket upgrades with 403 feature_flag_disabled when the flag is off', async () => {
      const off = await startRealtimeServer({ flags: { websocket: false } });
      try {
        const ws = new WebSocket(`${off.url.replace(/^http/, 'ws')}/v1/ws`);
        const answer = await new Promise<{ status: number; body: string }>((resolve) => {
          ws.on('unexpected-response', (_req, res) => {
            let body = '';
            res.on('data', (c) => {
              body += c;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          });
          ws.on('error', () => undefined);
        });
        expect(answer.status).toBe(403);
        expect(JSON.parse(answer.body)).toMatchObject({ code: 'feature_flag_disabled', flag: 'websocket' });
      } finally {
        await off.close();
      }
    });
  });
});
