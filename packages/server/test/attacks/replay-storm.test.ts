import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRealtimeServer } from '../support/realtime.js';
import type { TestServer } from '../support/server.js';

const EVENTS = 50_000;
const CLIENTS = 20;
const MB = 1024 * 1024;
// Without deflate (the server compresses repetitive text ~50×) and with ~500-byte events: 25 MB owed to each client, more than the kernel's socket buffers take.
const TEXT = 'a line of text that makes the event larger. '.repeat(11);

/** A resuming client that counts what it gets (keeping nothing) and can stop reading. */
class CountingClient {
  received = 0;
  lastSeq = 0;
  outOfOrder = 0;
  subscribed: any;
  readonly ws: WebSocket;
  readonly done: Promise<void>;
  constructor(url: string, channel: string) {
    this.ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/ws`, { perMessageDeflate: false }); // no deflate: the bytes owed are real
    let finish!: () => void;
    this.done = new Promise((resolve) => {
      finish = resolve;
    });
    this.ws.on('open', () => {
      this.ws.send(JSON.stringify({ type: 'connect', version: 1 }));
      this.ws.send(JSON.stringify({ type: 'subscribe', channel, from: 'start' }));
    });
    this.ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) {
        if (line.startsWith('{"type":"pub"')) {
          const seq = Number(/"seq":(\d+)/.exec(line)![1]);
          if (seq !== this.lastSeq + 1) this.outOfOrder++;
          this.lastSeq = seq;
          if (++this.received === EVENTS) finish();
        } else this.subscribed ??= JSON.parse(line).type === 'subscribed' ? JSON.parse(line) : undefined;
      }
    });
  }
  /** Stops reading for good (ws would resume a merely paused socket): bytes pile up at the server. */
  stall() {
    const socket = (this.ws as any)._socket;
    socket.removeAllListeners('data');
    socket.pause();
  }
}

/**
 * Replay storm: many clients resume 50k events at once and none of them reads. Server memory
 * stays bounded: a replay reads history a page at a time and waits for its client past a
 * small replay budget, so what it holds per client does not grow with the events it owes.
 */
describe('attack: replay storm', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startRealtimeServer({ streams: { history: { size: EVENTS, ttlSeconds: 600 } } });
    const { hub } = server.app.ctx;
    for (let i = 1; i <= EVENTS; i++) await hub.publish('public:storm', 'message', { i, text: TEXT });
  }, 60_000);
  afterAll(() => server.close());

  // What stays reachable, not what awaits collection: a sample after a full GC (garbage alone
  // swung the un-collected figure from ~33 to 57 MB between runs).
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const used = () => {
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };

  it(`${CLIENTS} stalled clients resuming ${EVENTS} events each: memory bounded; readers meanwhile get every event in order`, async () => {
    const before = used();
    let peak = before;
    const stalled: CountingClient[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const c = new CountingClient(server.url, 'public:storm');
      await new Promise((r) => c.ws.once('open', r));
      c.stall();
      stalled.push(c);
    }
    const readers = Array.from({ length: 3 }, () => new CountingClient(server.url, 'public:storm'));
    const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(`readers got ${readers.map((c) => c.received)} of ${EVENTS}`)), 20_000));
    await Promise.race([Promise.all(readers.map((c) => c.done)), timeout]);
    for (let i = 0; i < 20; i++) {
      peak = Math.max(peak, used());
      await new Promise((r) => setTimeout(r, 50));
    }
    const growthMb = (peak - before) / MB;
    for (const c of readers) {
      expect(c.received).toBe(EVENTS);
      expect(c.outOfOrder).toBe(0);
    }
    const { metrics } = server.app.ctx.realtime;
    // The stalled replays wait for their clients: nobody was cut as a slow consumer.
    expect(metrics.snapshot().slowConsumerDisconnects).toBe(0);
    for (const c of [...readers, ...stalled]) c.ws.terminate();
    // ~25 MB is the events' encodings, shared by every client; each stalled replay then holds at
    // most streams.replayBufferBytes (256 KiB). Without that budget each holds 4 MiB: 100+ MB here.
    expect(growthMb).toBeLessThan(50);
  }, 60_000);
});

describe('a replay stuck on a client that never reads', () => {
  it('holds at most maxReplay live events, then ends as a slow consumer (the client resumes)', async () => {
    const { MemoryBackend } = await import('../../src/streams/memory-backend.js');
    const { StreamHub } = await import('../../src/streams/hub.js');
    const backend = new MemoryBackend(() => ({ size: 1_000, ttlMs: 60_000 }));
    const hub = new StreamHub(backend, { maxReplay: 100, subscriberBufferBytes: 1_000, replayBufferBytes: 1_000 });
    for (let i = 0; i < 50; i++) await hub.publish('t', 'msg', i);
    let ended: string | undefined;
    let sent = 0;
    const stuck = {
      open() {},
      send() {
        sent++;
      },
      backlog: () => 10_000,
      drained: () => new Promise<void>(() => {}),
      end(reason: string) {
        ended = reason;
      },
    };
    void hub.subscribe('t', { from: 'start' }, stuck);
    await new Promise((r) => setTimeout(r, 10));
    for (let i = 0; i < 100; i++) await hub.publish('t', 'msg', i);
    expect(ended).toBeUndefined();
    await hub.publish('t', 'msg', 'one too many');
    expect(ended).toBe('slow_consumer');
    expect(sent).toBe(1); // the replay's first event went out before it waited
    await hub.close();
    await backend.close();
  });
});
