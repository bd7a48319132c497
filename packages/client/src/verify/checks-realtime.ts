import { fail, pass, randomId, skip, sleep, type Check, type VerifyContext, type WsConn } from './context.js';
import { percentiles, round } from './stats.js';

const NO_PUBLISH = 'needs a publish credential (--publish-key, or a --token with the publish scope)';

/** Opens the seed WebSocket and says hello; the ack and what came before it. */
async function seedHandshake(ctx: VerifyContext, services: string[], lastSeq?: Record<string, number>) {
  const started = performance.now();
  const conn = await ctx.openWs('/v2/realtime/stream');
  conn.send({ services, version: 1, ...(lastSeq ? { lastSeq } : {}) });
  const ack = await conn.next((m) => m.type === 'ack', 5_000);
  return { conn, ack, ms: (ack?.t ?? performance.now()) - started };
}

/** Channel of a seed service for an anonymous connection or a token without an org. */
const channelOf = (ack: any, service: string) => String(ack?.channels?.[service] ?? `public:${service}`);

/** Publishes one event and waits for it on `receive`; the latency, or null. */
async function publishAndTime(
  ctx: VerifyContext,
  channel: string,
  data: unknown,
  receive: (marker: string, from: number) => Promise<number | undefined>,
  from: number,
) {
  const marker = randomId();
  const sent = performance.now();
  const res = await ctx.publish(channel, { marker, ...(data as object) });
  if (res.status !== 200) throw new PublishError(res.status, res.json);
  const at = await receive(marker, from);
  return { latency: at === undefined ? null : at - sent, seq: Number(res.json?.seq) };
}

class PublishError extends Error {
  constructor(
    readonly status: number,
    readonly body: any,
  ) {
    super(`POST /v1/publish answered ${status} ${body?.code ?? ''}`);
  }
}

const seedReceive = (conn: WsConn) => async (marker: string, from: number) =>
  (await conn.next((m) => m.type === 'event' && m.events?.some((e: any) => e.data?.marker === marker), 5_000, from))?.t;

export const seedWs: Check = {
  id: 'seed-ws',
  title: 'Seed WebSocket: handshake, ack, publish-to-receive latency',
  profiles: ['smoke', 'full'],
  required: true,
  async run(ctx, out) {
    const service = `verify-${randomId()}`;
    let hs: Awaited<ReturnType<typeof seedHandshake>>;
    try {
      hs = await seedHandshake(ctx, [service]);
    } catch (err) {
      const msg = (err as Error).message;
      return /refused|no WebSocket open/.test(msg) ? skip(`no seed WebSocket at /v2/realtime/stream: ${msg}`) : fail(msg);
    }
    const { conn, ack } = hs;
    try {
      out.set('handshakeMs', hs.ms);
      if (!ack) return fail(`no ack within 5 s of the handshake${conn.closed ? ` (closed ${conn.closed.code} ${conn.closed.reason})` : ''}`);
      out.set('ackSeq', ack.m.seq ?? null);
      if (!ctx.publishKey) return pass(`handshake → ack in ${round(hs.ms)} ms; publish latency not measured: ${NO_PUBLISH}`);
      const channel = channelOf(ack.m, service);
      const latencies: number[] = [];
      const n = ctx.full ? 50 : 10;
      for (let i = 0; i < n; i++) {
        const { latency } = await publishAndTime(ctx, channel, { i }, seedReceive(conn), ack.index);
        if (latency === null) return fail(`event ${i + 1} published to ${channel} never arrived on the WebSocket`);
        latencies.push(latency);
      }
      const p = percentiles(latencies);
      out.set('latencyP50Ms', p.p50);
      const ok = out.within('latencyP95Ms', p.p95, { max: ctx.thresholds.eventLatencyMs });
      const figures = `handshake → ack ${round(hs.ms)} ms; publish → receive p50 ${p.p50} ms, p95 ${p.p95} ms over ${n} events`;
      return ok ? pass(figures) : fail(`events too slow: ${figures} (p95 must be < ${ctx.thresholds.eventLatencyMs} ms)`);
    } catch (err) {
      if (err instanceof PublishError) return err.status === 401 || err.status === 403 ? skip(`${err.message}: ${NO_PUBLISH}`) : fail(err.message);
      throw err;
    } finally {
      await conn.close();
    }
  },
};

export const seedReplay: Check = {
  id: 'seed-replay',
  title: 'Seed WebSocket: replay with lastSeq',
  profiles: ['smoke', 'full'],
  required: true,
  async run(ctx, out) {
    if (!ctx.publishKey) return skip(NO_PUBLISH);
    const service = `verify-${randomId()}`;
    const first = await seedHandshake(ctx, [service]).catch((err: Error) => err);
    if (first instanceof Error) return skip(`no seed WebSocket: ${first.message}`);
    if (!first.ack) return fail('no ack to the handshake');
    const channel = channelOf(first.ack.m, service);
    let last = 0;
    for (let i = 0; i < 5; i++) {
      const r = await publishAndTime(ctx, channel, { i }, seedReceive(first.conn), first.ack.index).catch((e: Error) => e);
      if (r instanceof PublishError && (r.status === 401 || r.status === 403)) return skip(`${r.message}: ${NO_PUBLISH}`);
      if (r instanceof Error) return fail(r.message);
      last = r.seq;
    }
    await first.conn.close();
    // Missed while away: exactly these must come back before the ack.
    const missed: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await ctx.publish(channel, { missed: i });
      if (r.status !== 200) return fail(`publish answered ${r.status}`);
      missed.push(Number(r.json.seq));
    }
    const again = await seedHandshake(ctx, [service], { [service]: last });
    try {
      if (!again.ack) return fail('no ack to the resuming handshake');
      const replayed = again.conn.messages
        .slice(0, again.ack.index)
        .filter((x) => x.m.type === 'event')
        .flatMap((x) => x.m.events ?? [])
        .map((e: any) => Number(e.seq));
      out.set('lastSeq', last);
      out.set('expected', missed.join(','));
      out.set('replayed', replayed.join(',') || null);
      out.set('recovered', again.ack.m.recovery?.[service]?.recovered ?? null);
      out.within('missingEvents', missed.filter((s) => !replayed.includes(s)).length, { max: 1 });
      out.within('extraEvents', replayed.filter((s) => !missed.includes(s)).length, { max: 1 });
      const same = replayed.length === missed.length && replayed.every((s, i) => s === missed[i]);
      if (!same) {
        return fail(
          `reconnecting with lastSeq ${last} should replay seq ${missed.join(', ')} before the ack, got ${replayed.length ? `seq ${replayed.join(', ')}` : 'nothing'}${replayed.some((s) => s <= last) ? ' (lastSeq ignored: events before it came again)' : ''}`,
        );
      }
      return pass(`lastSeq ${last}: replayed exactly seq ${replayed.join(', ')} before the ack`);
    } finally {
      await again.conn.close();
    }
  },
};

export const seedPing: Check = {
  id: 'seed-ping',
  title: 'Seed WebSocket: ping interval',
  profiles: ['smoke', 'full'],
  required: true,
  async run(ctx, out) {
    const wait = ctx.full ? 65_000 : 3_000;
    const hs = await seedHandshake(ctx, [`verify-${randomId()}`]).catch((err: Error) => err);
    if (hs instanceof Error) return skip(`no seed WebSocket: ${hs.message}`);
    try {
      if (!hs.ack) return fail('no ack to the handshake');
      ctx.progress(`seed-ping: waiting up to ${wait / 1000} s for two pings`);
      const one = await hs.conn.next((m) => m.type === 'ping', wait, hs.ack.index);
      if (!one) {
        return ctx.full
          ? fail(`no ping within ${wait / 1000} s`)
          : skip(`no ping within ${wait / 1000} s (the seed default is 30 s): the full profile waits ${65} s`);
      }
      const two = await hs.conn.next((m) => m.type === 'ping', wait, one.index + 1);
      const interval = two ? two.t - one.t : null;
      out.set('pingIntervalMs', interval);
      if (!two) return fail(`one ping, then none within ${wait / 1000} s`);
      return pass(`pings every ${round(interval!)} ms`);
    } finally {
      await hs.conn.close();
    }
  },
};

export const realtimeMetrics: Check = {
  id: 'realtime-metrics',
  title: 'Realtime metrics: compressedMessages, totalSubscriptions',
  profiles: ['smoke', 'full'],
  required: true,
  async run(ctx, out) {
    const before = await ctx.http.request('GET', '/v2/realtime/metrics');
    if (before.status === 404) return skip('the server has no /v2/realtime/metrics');
    if (before.status !== 200) return fail(`GET /v2/realtime/metrics answered ${before.status}`);
    if (!ctx.publishKey) return skip(NO_PUBLISH);
    const service = `verify-${randomId()}`;
    const n = 10;
    const conns: WsConn[] = [];
    try {
      const hss = await Promise.all(Array.from({ length: n }, () => seedHandshake(ctx, [service])));
      conns.push(...hss.map((h) => h.conn));
      if (hss.some((h) => !h.ack)) return fail('a connection got no ack');
      const during = await ctx.http.request('GET', '/v2/realtime/metrics');
      const subs = Number(during.json?.connectionPoolStats?.totalSubscriptions) - Number(before.json?.connectionPoolStats?.totalSubscriptions);
      const connsDelta = Number(during.json?.connectionPoolStats?.totalConnections) - Number(before.json?.connectionPoolStats?.totalConnections);
      out.set('connectionsOpened', n);
      out.set('poolConnectionsDelta', connsDelta);
      const okSubs = out.within('subscriptionsDelta', subs, { max: 2 });
      // One event over the compression threshold (1 KiB by default), to every connection.
      const channel = channelOf(hss[0]!.ack!.m, service);
      const res = await ctx.publish(channel, { text: 'verify '.repeat(1_200) });
      if (res.status === 401 || res.status === 403) return skip(`publish answered ${res.status}: ${NO_PUBLISH}`);
      if (res.status !== 200) return fail(`publish answered ${res.status}`);
      const got = await Promise.all(hss.map((h) => h.conn.next((m) => m.type === 'event', 5_000, h.ack!.index)));
      out.set('delivered', got.filter(Boolean).length);
      const after = await ctx.http.request('GET', '/v2/realtime/metrics');
      const compressed = Number(after.json?.compressedMessages) - Number(before.json?.compressedMessages);
      out.set('compressedMessagesTotal', Number(after.json?.compressedMessages));
      const okComp = out.within('compressedMessagesDelta', compressed, { min: 0 });
      if (got.some((g) => !g)) return fail(`a large event reached ${got.filter(Boolean).length} of ${n} connections`);
      if (!Number.isFinite(subs)) return fail('/v2/realtime/metrics has no connectionPoolStats.totalSubscriptions');
      if (!okSubs) return fail(`${n} connections to one service added ${subs} subscriptions (expected 1: one broker feed per channel, not one per connection)`);
      if (!okComp)
        return fail(`a ${res.status === 200 ? '8 KB' : ''} event to ${n} connections left compressedMessages at +${compressed} (no permessage-deflate)`);
      return pass(
        `${n} connections → +${subs} subscription(s), +${connsDelta} pooled connections; a large event compressed (+${compressed} compressedMessages)`,
      );
    } finally {
      await Promise.all(conns.map((c) => c.close()));
    }
  },
};

export const nativeWs: Check = {
  id: 'native-ws',
  title: 'Native WebSocket (/v1/ws)',
  profiles: ['smoke', 'full'],
  required: true,
  async run(ctx, out) {
    let conn: WsConn;
    try {
      conn = await ctx.openWs('/v1/ws');
    } catch (err) {
      return skip(`no native WebSocket at /v1/ws: ${(err as Error).message}`);
    }
    try {
      conn.send({ type: 'connect', version: 1, ...(ctx.options.token ? { token: ctx.options.token } : {}) });
      const connected = await conn.next((m) => m.type === 'connected', 5_000);
      if (!connected) return fail(`no connected frame${conn.closed ? ` (closed ${conn.closed.code})` : ''}`);
      out.set('pingIntervalMs', connected.m.pingIntervalMs ?? null);
      if (!ctx.publishKey) return pass(`connected (ping every ${connected.m.pingIntervalMs} ms); delivery not measured: ${NO_PUBLISH}`);
      const channel = `public:verify-${randomId()}`;
      conn.send({ type: 'subscribe', id: 1, channel });
      const sub = await conn.next((m) => m.type === 'subscribed' || m.type === 'error', 5_000);
      if (sub?.m.type !== 'subscribed') return fail(`subscribe to ${channel}: ${JSON.stringify(sub?.m ?? 'no answer')}`);
      const r = await publishAndTime(
        ctx,
        channel,
        {},
        async (marker, from) => (await conn.next((m) => m.type === 'pub' && m.data?.marker === marker, 5_000, from))?.t,
        sub.index,
      ).catch((e: Error) => e);
      if (r instanceof PublishError && (r.status === 401 || r.status === 403)) return skip(`${r.message}: ${NO_PUBLISH}`);
      if (r instanceof Error) return fail(r.message);
      const ok = out.within('latencyMs', r.latency, { max: ctx.thresholds.eventLatencyMs });
      if (r.latency === null) return fail('a published event never arrived on /v1/ws');
      return ok
        ? pass(`connect → subscribe → event in ${round(r.latency)} ms`)
        : fail(`the event took ${round(r.latency)} ms (must be < ${ctx.thresholds.eventLatencyMs} ms)`);
    } finally {
      await conn.close();
    }
  },
};

export const longPoll: Check = {
  id: 'long-poll',
  title: 'Long-poll fallback (/v1/poll)',
  profiles: ['smoke', 'full'],
  required: true,
  async run(ctx, out) {
    const channel = `public:verify-${randomId()}`;
    const q = (cursor?: string) => `/v1/poll?channels=${encodeURIComponent(channel)}&timeoutMs=5000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const first = await ctx.http.request('GET', q());
    out.set('status', first.status);
    if (first.status === 404) return skip('the server has no /v1/poll');
    if (first.status !== 200 || typeof first.json?.cursor !== 'string') return fail(`GET /v1/poll answered ${first.status} ${first.text.slice(0, 120)}`);
    if (!ctx.publishKey) return pass(`first poll answered a cursor; delivery not measured: ${NO_PUBLISH}`);
    const waiting = ctx.http.request('GET', q(first.json.cursor), { timeoutMs: 10_000 });
    await sleep(100);
    const sent = performance.now();
    const pub = await ctx.publish(channel, { poll: true });
    if (pub.status === 401 || pub.status === 403) return skip(`publish answered ${pub.status}: ${NO_PUBLISH}`);
    const got = await waiting;
    const latency = performance.now() - sent;
    const events = got.json?.events ?? [];
    out.set('events', events.length);
    const ok = out.within('latencyMs', latency, { max: ctx.thresholds.eventLatencyMs + 100 });
    if (got.status !== 200 || events.length !== 1)
      return fail(`the waiting poll answered ${got.status} with ${events.length} events (expected the one published)`);
    return ok ? pass(`a waiting poll answered the published event in ${round(latency)} ms`) : fail(`the waiting poll took ${round(latency)} ms`);
  },
};
