import { afterEach, describe, expect, it } from 'vitest';
import { StreamHub, type EndReason, type RecoveryInfo, type Sink } from '../src/streams/hub.js';
import { MemoryBackend } from '../src/streams/memory-backend.js';
import type { LogEvent, StreamBackend } from '../src/streams/types.js';
import { formatEventId, parseEventId } from '../src/streams/event-id.js';
import { RECOVERY_TABLE } from './support/recovery-table.js';

/** Every backend must pass the same table; the Redis backend joins this list. */
const backends: { name: string; make: (policy: { size: number; ttlMs: number }, now?: () => number) => StreamBackend }[] = [
  { name: 'memory', make: (policy, now) => new MemoryBackend(() => policy, now ? { now } : {}) },
];

class RecordingSink implements Sink {
  opened: RecoveryInfo | undefined;
  events: LogEvent[] = [];
  ended: EndReason | undefined;
  queued = 0;
  open(info: RecoveryInfo) { this.opened = info; }
  send(event: LogEvent) { this.events.push(event); }
  backlog() { return this.queued; }
  end(reason: EndReason) { this.ended = reason; }
}

describe.each(backends)('stream log on the $name backend', ({ make }) => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => { while (closers.length) await closers.pop()!(); });

  function setup(opts: { size?: number; ttlMs?: number; maxReplay?: number; buffer?: number; now?: () => number } = {}) {
    const backend = make({ size: opts.size ?? 100, ttlMs: opts.ttlMs ?? 60_000 }, opts.now);
    closers.push(() => backend.close());
    const hub = new StreamHub(backend, { maxReplay: opts.maxReplay ?? 1_000, subscriberBufferBytes: opts.buffer ?? 1_000_000 });
    return { hub, backend };
  }

  async function publishN(hub: StreamHub, topic: string, n: number) {
    const out: LogEvent[] = [];
    for (let i = 0; i < n; i++) out.push(await hub.publish(topic, 'msg', { i }));
    return out;
  }

  it('numbers events 1, 2, 3 … within one epoch per topic', async () => {
    const { hub } = setup();
    const a = await publishN(hub, 'a', 3);
    const b = await publishN(hub, 'b', 2);
    expect(a.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(b.map((e) => e.seq)).toEqual([1, 2]);
    expect(new Set(a.map((e) => e.epoch)).size).toBe(1);
    expect(a[0]!.epoch).not.toBe(b[0]!.epoch);
  });

  it.each(RECOVERY_TABLE)('recovery: $name', async ({ start, opts, expect: want }) => {
    const { hub } = setup(opts);
    const events = await publishN(hub, 't', 10);
    const sink = new RecordingSink();
    const sub = await hub.subscribe('t', start(events[0]!.epoch), sink);
    expect(sink.opened?.recovered).toBe(want.recovered);
    if (!want.recovered) {
      expect(sink.opened).toMatchObject({ reason: want.reason, top: { seq: 10 } });
      expect(sink.events).toEqual([]);
    } else {
      expect(sink.events.map((e) => e.seq)).toEqual(want.seqs);
    }
    // Either way the subscription continues live from the top, with no gap and no repeat.
    await hub.publish('t', 'msg', { i: 10 });
    expect(sink.events.at(-1)?.seq).toBe(11);
    sub.close();
  });

  it('an unknown topic asked from a position is not recovered', async () => {
    const { hub } = setup();
    const r = await hub.recover('never', { from: 'position', position: { epoch: 'x', seq: 4 } });
    expect(r.recovered).toBe(false);
  });

  it('drops events older than the history age', async () => {
    let now = 1_000_000;
    const { hub } = setup({ ttlMs: 1_000, now: () => now });
    const events = await publishN(hub, 't', 3);
    now += 2_000;
    await hub.publish('t', 'msg', { late: true });
    const r = await hub.recover('t', { from: 'position', position: { epoch: events[0]!.epoch, seq: 1 } });
    expect(r).toMatchObject({ recovered: false, reason: 'history_truncated' });
    const fromTop = await hub.recover('t', { from: 'position', position: { epoch: events[0]!.epoch, seq: 3 } });
    expect(fromTop.recovered && fromTop.events.map((e) => e.seq)).toEqual([4]);
  });

  it('holds one backend feed per topic however many subscribers, and delivers the same event object', async () => {
    const { hub } = setup();
    const sinks = Array.from({ length: 100 }, () => new RecordingSink());
    const subs = await Promise.all(sinks.map((s, i) => hub.subscribe(i % 2 ? 'x' : 'y', { from: 'top' }, s)));
    expect(hub.stats()).toMatchObject({ topics: 2, subscribers: 100 });
    const e = await hub.publish('x', 'msg', { hello: 1 });
    const got = sinks.filter((s) => s.events.length === 1);
    expect(got).toHaveLength(50);
    expect(got.every((s) => s.events[0] === e)).toBe(true); // one object: encoders can cache per event
    for (const s of subs) s.close();
    expect(hub.stats()).toMatchObject({ topics: 0, subscribers: 0 });
  });

  it('ends subscribers after the final event and answers later ones with the replay then the end', async () => {
    const { hub } = setup();
    const live = new RecordingSink();
    await hub.subscribe('job', { from: 'top' }, live);
    await hub.publish('job', 'progress', { p: 1 });
    await hub.publish('job', 'done', {}, { final: true });
    expect(live.ended).toBe('finished');
    expect(live.events.map((e) => e.type)).toEqual(['progress', 'done']);
    await expect(hub.publish('job', 'late', {})).rejects.toThrow(/finished/);
    const late = new RecordingSink();
    await hub.subscribe('job', { from: 'start' }, late);
    expect(late.events.map((e) => e.seq)).toEqual([1, 2]);
    expect(late.ended).toBe('finished');
    expect(hub.stats().subscribers).toBe(0);
  });

  it('cuts a slow consumer once its backlog passes the limit, counts it, and keeps serving others', async () => {
    const { hub } = setup({ buffer: 1_000 });
    const slow = new RecordingSink();
    const fast = new RecordingSink();
    await hub.subscribe('t', { from: 'top' }, slow);
    await hub.subscribe('t', { from: 'top' }, fast);
    slow.queued = 1_001; // the transport reports bytes it could not hand to the socket
    await hub.publish('t', 'msg', {});
    await hub.publish('t', 'msg', {});
    expect(slow.ended).toBe('slow_consumer');
    expect(slow.events).toHaveLength(1);
    expect(fast.events).toHaveLength(2);
    expect(hub.stats().slowConsumerDisconnects).toBe(1);
  });

  it('paces a replay larger than the buffer to a sink that can say when it drained, instead of cutting it', async () => {
    const { hub } = setup({ buffer: 1_000 });
    await publishN(hub, 't', 20);
    const epoch = (await hub.recover('t', { from: 'top' })).top.epoch;
    let drains = 0;
    const sink = new (class extends RecordingSink {
      override send(event: LogEvent) { super.send(event); this.queued += 400; }
      async drained() { drains++; await new Promise((r) => setTimeout(r, 1)); this.queued = 0; }
    })();
    const sub = await hub.subscribe('t', { from: 'position', position: { epoch, seq: 0 } }, sink);
    expect(sink.events.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(drains).toBeGreaterThanOrEqual(6);
    expect(sink.ended).toBeUndefined();
    expect(hub.stats().slowConsumerDisconnects).toBe(0);
    sub.close();
  });

  it('loses nothing published while history is being read (the join race)', async () => {
    const { hub, backend } = setup();
    await publishN(hub, 't', 5);
    const epoch = (await hub.recover('t', { from: 'top' })).top.epoch;
    // A backend whose history read is slow: events published meanwhile must still arrive once.
    const slowRecover = backend.recover.bind(backend);
    backend.recover = async (...args) => {
      const r = await slowRecover(...args);
      await hub.publish('t', 'msg', { during: 1 });
      await hub.publish('t', 'msg', { during: 2 });
      return r;
    };
    const sink = new RecordingSink();
    await hub.subscribe('t', { from: 'position', position: { epoch, seq: 3 } }, sink);
    expect(sink.events.map((e) => e.seq)).toEqual([4, 5, 6, 7]);
  });
});

describe('memory backend bounds', () => {
  it('caps events across all topics, forgetting finished unwatched topics oldest first', async () => {
    const backend = new MemoryBackend(() => ({ size: 100, ttlMs: 60_000 }), { maxTotalEvents: 10 });
    const hub = new StreamHub(backend, { maxReplay: 100, subscriberBufferBytes: 1e6 });
    for (const t of ['old', 'mid']) {
      await hub.publish(t, 'x', {});
      await hub.publish(t, 'end', {}, { final: true });
    }
    const watched = new RecordingSink();
    await hub.subscribe('live', { from: 'top' }, watched);
    for (let i = 0; i < 7; i++) await hub.publish('live', 'x', { i });
    expect(backend.heldEvents()).toBe(9); // 4 finished + 7 live = 11 > 10: 'old' (2 events) is forgotten
    expect((await hub.recover('old', { from: 'start' })).recovered).toBe(false);
    expect((await hub.recover('mid', { from: 'start' })).recovered).toBe(true);
    for (let i = 0; i < 5; i++) await hub.publish('live', 'x', { i });
    // no finished topic left to forget: the oldest live events go, and the cap holds
    expect(backend.heldEvents()).toBe(10);
    expect(watched.events).toHaveLength(12); // live delivery is never affected
    const r = await hub.recover('live', { from: 'start' });
    expect(r).toMatchObject({ recovered: false, reason: 'history_truncated' });
    await backend.close();
  });
});

describe('encode once per publish', () => {
  it('a fan-out to many subscribers encodes each event once', async () => {
    const { encodeOnce } = await import('../src/streams/encode-once.js');
    let encodes = 0;
    const encode = encodeOnce((e) => { encodes++; return `frame ${e.seq}`; });
    const backend = new MemoryBackend(() => ({ size: 100, ttlMs: 60_000 }));
    const hub = new StreamHub(backend, { maxReplay: 100, subscriberBufferBytes: 1e6 });
    const frames: string[] = [];
    const sink = (): Sink => ({ open() {}, send: (e) => { frames.push(encode(e)); }, backlog: () => 0, end() {} });
    for (let i = 0; i < 50; i++) await hub.subscribe('t', { from: 'top' }, sink());
    for (let i = 0; i < 3; i++) await hub.publish('t', 'x', {});
    expect(frames).toHaveLength(150);
    expect(encodes).toBe(3);
    await backend.close();
  });
});

describe('event ids', () => {
  it('round-trip, with colons in the key', () => {
    const id = formatEventId('org:acme:finance', { epoch: 'AbC_-9', seq: 42 });
    expect(parseEventId(id)).toEqual({ key: 'org:acme:finance', position: { epoch: 'AbC_-9', seq: 42 } });
  });
  it.each(['', '42', 'a:b', 'k::1', 'k:e:-1', 'k:e:1.5', 'k:e:01', 'k:e!:1', ':e:1', 'k:e:99999999999999999', 'k\n:e:1'])('refuses %j', (raw) => {
    expect(parseEventId(raw)).toBeNull();
  });
});
