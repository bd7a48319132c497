import { afterEach, describe, expect, it, vi } from 'vitest';
import { StreamHub, type EndReason, type RecoveryInfo, type Sink } from '../src/streams/hub.js';
import { MemoryBackend } from '../src/streams/memory-backend.js';
import type { LogEvent, StreamBackend } from '../src/streams/types.js';
import { formatEventId, parseEventId } from '../src/streams/event-id.js';
import { RedisBackend } from '../src/streams/redis-backend.js';
import { RECOVERY_TABLE } from './support/recovery-table.js';
import { dropPrefix, randomPrefix, redisAvailable, TEST_REDIS_URL } from './support/redis.js';

const redisUp = await redisAvailable();

/**
 * Every backend passes the same tests. Redis delivers live events through pub/sub, after the
 * publish returns: live expectations wait for their condition. Only memory takes a fake clock.
 */
const backends: { name: string; enabled: boolean; make: (policy: { size: number; ttlMs: number }, now?: () => number) => Promise<StreamBackend> }[] = [
  { name: 'memory', enabled: true, make: async (policy, now) => new MemoryBackend(() => policy, now ? { now } : {}) },
  {
    name: 'redis',
    enabled: redisUp,
    make: async (policy) => {
      const keyPrefix = randomPrefix();
      const backend = new RedisBackend(() => policy, { url: TEST_REDIS_URL, keyPrefix });
      await backend.connect(5_000);
      const close = backend.close.bind(backend);
      backend.close = async () => {
        await close();
        await dropPrefix(keyPrefix);
      };
      return backend;
    },
  },
];
const settled = (check: () => void) => vi.waitFor(check, { timeout: 5_000, interval: 5 });

class RecordingSink implements Sink {
  opened: RecoveryInfo | undefined;
  events: LogEvent[] = [];
  ended: EndReason | undefined;
  queued = 0;
  open(info: RecoveryInfo) {
    this.opened = info;
  }
  send(event: LogEvent) {
    this.events.push(event);
  }
  backlog() {
    return this.queued;
  }
  end(reason: EndReason) {
    this.ended = reason;
  }
}

describe.each(backends.filter((b) => b.enabled))('stream log on the $name backend', ({ name, make }) => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (closers.length) await closers.pop()!();
  });

  async function setup(opts: { size?: number; ttlMs?: number; maxReplay?: number; buffer?: number; now?: () => number } = {}) {
    const backend = await make({ size: opts.size ?? 100, ttlMs: opts.ttlMs ?? 60_000 }, opts.now);
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
    const { hub } = await setup();
    const a = await publishN(hub, 'a', 3);
    const b = await publishN(hub, 'b', 2);
    expect(a.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(b.map((e) => e.seq)).toEqual([1, 2]);
    expect(new Set(a.map((e) => e.epoch)).size).toBe(1);
    expect(a[0]!.epoch).not.toBe(b[0]!.epoch);
  });

  it.each(RECOVERY_TABLE)('recovery: $name', async ({ start, opts, expect: want }) => {
    const { hub } = await setup(opts);
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
    await settled(() => expect(sink.events.at(-1)?.seq).toBe(11));
    expect(sink.events.filter((e) => e.seq === 11)).toHaveLength(1);
    sub.close();
  });

  it('an unknown topic asked from a position is not recovered', async () => {
    const { hub } = await setup();
    const r = await hub.recover('never', { from: 'position', position: { epoch: 'x', seq: 4 } });
    expect(r.recovered).toBe(false);
  });

  it('drops events older than the history age', async () => {
    let now = 1_000_000;
    const { hub } = await setup({ ttlMs: name === 'redis' ? 300 : 1_000, now: () => now });
    const events = await publishN(hub, 't', 3);
    now += 2_000;
    if (name === 'redis') await new Promise((r) => setTimeout(r, 400)); // Redis keeps its own clock
    await hub.publish('t', 'msg', { late: true });
    const r = await hub.recover('t', { from: 'position', position: { epoch: events[0]!.epoch, seq: 1 } });
    expect(r).toMatchObject({ recovered: false, reason: 'history_truncated' });
    const fromTop = await hub.recover('t', { from: 'position', position: { epoch: events[0]!.epoch, seq: 3 } });
    expect(fromTop.recovered && fromTop.events.map((e) => e.seq)).toEqual([4]);
  });

  it('holds one backend feed per topic however many subscribers, and delivers the same event object', async () => {
    const { hub } = await setup();
    const sinks = Array.from({ length: 100 }, () => new RecordingSink());
    const subs = await Promise.all(sinks.map((s, i) => hub.subscribe(i % 2 ? 'x' : 'y', { from: 'top' }, s)));
    expect(hub.stats()).toMatchObject({ topics: 2, subscribers: 100 });
    const e = await hub.publish('x', 'msg', { hello: 1 });
    await settled(() => expect(sinks.filter((s) => s.events.length === 1)).toHaveLength(50));
    const got = sinks.filter((s) => s.events.length === 1);
    expect(got.every((s) => s.events[0] === got[0]!.events[0])).toBe(true); // one object: encoders can cache per event
    expect(got[0]!.events[0]).toMatchObject({ seq: e.seq, epoch: e.epoch, data: { hello: 1 } });
    for (const s of subs) s.close();
    expect(hub.stats()).toMatchObject({ topics: 0, subscribers: 0 });
  });

  it('ends subscribers after the final event and answers later ones with the replay then the end', async () => {
    const { hub } = await setup();
    const live = new RecordingSink();
    await hub.subscribe('job', { from: 'top' }, live);
    await hub.publish('job', 'progress', { p: 1 });
    await hub.publish('job', 'done', {}, { final: true });
    await settled(() => expect(live.ended).toBe('finished'));
    expect(live.events.map((e) => e.type)).toEqual(['progress', 'done']);
    await expect(hub.publish('job', 'late', {})).rejects.toThrow(/finished/);
    const late = new RecordingSink();
    await hub.subscribe('job', { from: 'start' }, late);
    expect(late.events.map((e) => e.seq)).toEqual([1, 2]);
    expect(late.ended).toBe('finished');
    expect(hub.stats().subscribers).toBe(0);
  });

  it('cuts a slow consumer once its backlog passes the limit, counts it, and keeps serving others', async () => {
    const { hub } = await setup({ buffer: 1_000 });
    const slow = new RecordingSink();
    const fast = new RecordingSink();
    await hub.subscribe('t', { from: 'top' }, slow);
    await hub.subscribe('t', { from: 'top' }, fast);
    slow.queued = 1_001; // the transport reports bytes it could not hand to the socket
    await hub.publish('t', 'msg', {});
    await hub.publish('t', 'msg', {});
    await settled(() => expect(fast.events).toHaveLength(2));
    expect(slow.ended).toBe('slow_consumer');
    expect(slow.events).toHaveLength(1);
    expect(fast.events).toHaveLength(2);
    expect(hub.stats().slowConsumerDisconnects).toBe(1);
  });

  it('paces a replay larger than the buffer to a sink that can say when it drained, instead of cutting it', async () => {
    const { hub } = await setup({ buffer: 1_000 });
    await publishN(hub, 't', 20);
    const epoch = (await hub.recover('t', { from: 'top' })).top.epoch;
    let drains = 0;
    const sink = new (class extends RecordingSink {
      override send(event: LogEvent) {
        super.send(event);
        this.queued += 400;
      }
      async drained() {
        drains++;
        await new Promise((r) => setTimeout(r, 1));
        this.queued = 0;
      }
    })();
    const sub = await hub.subscribe('t', { from: 'position', position: { epoch, seq: 0 } }, sink);
    expect(sink.events.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(drains).toBeGreaterThanOrEqual(6);
    expect(sink.ended).toBeUndefined();
    expect(hub.stats().slowConsumerDisconnects).toBe(0);
    sub.close();
  });

  it('loses nothing published while history is being read (the join race)', async () => {
    const { hub, backend } = await setup();
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
    await settled(() => expect(sink.events.map((e) => e.seq)).toEqual([4, 5, 6, 7]));
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
    const encode = encodeOnce((e) => {
      encodes++;
      return `frame ${e.seq}`;
    });
    const backend = new MemoryBackend(() => ({ size: 100, ttlMs: 60_000 }));
    const hub = new StreamHub(backend, { maxReplay: 100, subscriberBufferBytes: 1e6 });
    const frames: string[] = [];
    const sink = (): Sink => ({
      open() {},
      send: (e) => {
        frames.push(encode(e));
      },
      backlog: () => 0,
      end() {},
    });
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

describe.runIf(redisUp)('redis backend across nodes', () => {
  const keyPrefix = randomPrefix();
  const opened: RedisBackend[] = [];
  afterEach(async () => {
    while (opened.length) await opened.pop()!.close();
    await dropPrefix(keyPrefix);
  });
  async function node() {
    const backend = new RedisBackend(() => ({ size: 1_000, ttlMs: 60_000 }), { url: TEST_REDIS_URL, keyPrefix });
    opened.push(backend);
    await backend.connect(5_000);
    return { backend, hub: new StreamHub(backend, { maxReplay: 1_000, subscriberBufferBytes: 1e6 }) };
  }
  /** What a lost pub/sub message leaves behind: the event in the stream, the counter moved, no message. */
  async function appendSilently(topic: string, seq: number, epoch: string, keepInStream = true) {
    const { Redis } = await import('ioredis');
    const raw = new Redis(TEST_REDIS_URL);
    await raw.hincrby(`${keyPrefix}{${topic}}:m`, 'top', 1);
    if (keepInStream) await raw.xadd(`${keyPrefix}{${topic}}:s`, `${seq}-0`, 'm', `${seq} ${Date.now()} 0 ${epoch} ["msg",{"silent":${seq}}]`);
    raw.disconnect();
  }

  it('numbers one topic atomically across nodes and delivers to every node with one feed each', async () => {
    const [a, b, c] = [await node(), await node(), await node()];
    const sinks = [a, b, c].flatMap(({ hub }) => Array.from({ length: 3 }, () => ({ hub, sink: new RecordingSink() })));
    for (const { hub, sink } of sinks) await hub.subscribe('shared', { from: 'top' }, sink);
    await Promise.all(Array.from({ length: 30 }, (_, i) => [a, b, c][i % 3]!.hub.publish('shared', 'msg', { i })));
    const all = Array.from({ length: 30 }, (_, i) => i + 1);
    await settled(() => {
      for (const { sink } of sinks) expect(sink.events.map((e) => e.seq)).toEqual(all);
    });
    for (const n of [a, b, c]) expect([n.backend.subscriptions(), n.hub.stats().subscribers]).toEqual([1, 3]);
  });

  it('fills a gap left by a lost pub/sub message from the stream', async () => {
    const [a, b] = [await node(), await node()];
    const sink = new RecordingSink();
    await b.hub.subscribe('t', { from: 'top' }, sink);
    const first = await a.hub.publish('t', 'msg', { i: 1 });
    await appendSilently('t', 2, first.epoch);
    await appendSilently('t', 3, first.epoch);
    await a.hub.publish('t', 'msg', { i: 4 });
    await settled(() => expect(sink.events.map((e) => e.seq)).toEqual([1, 2, 3, 4]));
    expect(sink.events[1]!.data).toEqual({ silent: 2 });
    expect(sink.ended).toBeUndefined();
  });

  it('a gap it cannot fill ends the subscribers, and their resume says recovered:false', async () => {
    const [a, b] = [await node(), await node()];
    const sink = new RecordingSink();
    await b.hub.subscribe('t', { from: 'top' }, sink);
    const first = await a.hub.publish('t', 'msg', { i: 1 });
    await appendSilently('t', 2, first.epoch, false); // counter moved, event gone
    await a.hub.publish('t', 'msg', { i: 3 });
    await settled(() => expect(sink.ended).toBe('shutdown'));
    expect(sink.events.map((e) => e.seq)).toEqual([1]);
    expect(b.hub.stats()).toMatchObject({ topics: 0, feedsLost: 1 });
    const again = new RecordingSink();
    await b.hub.subscribe('t', { from: 'position', position: { epoch: first.epoch, seq: 1 } }, again);
    expect(again.opened).toMatchObject({ recovered: false, reason: 'history_truncated' });
  });
});
