import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StreamHub, type EndReason, type RecoveryInfo, type Sink, type Subscription } from '../src/streams/hub.js';
import { MemoryBackend } from '../src/streams/memory-backend.js';
import type { LogEvent, Position, StartAt } from '../src/streams/types.js';

/**
 * Property: whatever the interleaving of publish, subscribe, disconnect, resume, history
 * truncation (by size and by age) and restart (a new epoch), every subscriber's view is the log
 * in order without duplicates or gaps, except where it was told `recovered:false`.
 * In-process (hub + memory backend, a fake clock), so 1,000+ cases run in a few seconds.
 */
const RUNS = Number(process.env.PROPERTY_RUNS ?? 1_000);
const TOPICS = ['t0', 't1'];
const CLIENTS = 4;
const TTL_MS = 1_000;

type Op =
  | { kind: 'publish'; topic: number; count: number; wait: boolean }
  | { kind: 'connect'; client: number; from: 'start' | 'top' | 'resume'; wait: boolean }
  | { kind: 'disconnect'; client: number }
  | { kind: 'expire' }
  | { kind: 'restart' }
  | { kind: 'settle' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('publish' as const),
      topic: fc.nat(TOPICS.length - 1),
      count: fc.integer({ min: 1, max: 6 }),
      wait: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('connect' as const),
      client: fc.nat(CLIENTS - 1),
      from: fc.constantFrom('start' as const, 'top' as const, 'resume' as const),
      wait: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('disconnect' as const), client: fc.nat(CLIENTS - 1) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'expire' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'settle' as const }) },
);

/** What a client saw, across its connections: events, and the explicit resets between them. */
type Seen = { event: Position } | { reset: string };

class Client {
  readonly seen: Seen[] = [];
  readonly problems: string[] = [];
  /** The last position this client holds (what it would resume from). */
  pos: Position | undefined;
  conn: Connection | undefined;
  constructor(readonly topic: string) {}
}

/** One connection of a client: a hub sink that checks order as it receives. */
class Connection implements Sink {
  detached = false;
  ended: EndReason | undefined;
  sub: Promise<Subscription> | undefined;
  private expectNext: number | undefined;
  private epoch: string | undefined;
  constructor(
    private readonly client: Client,
    private readonly resumedFrom: Position | undefined,
  ) {}

  open(info: RecoveryInfo): void {
    if (this.expectNext !== undefined) this.client.problems.push('open called twice');
    if (info.recovered) {
      const start = info.top.seq - info.replayed;
      if (this.resumedFrom && start !== this.resumedFrom.seq) this.client.problems.push(`resumed at ${start}, asked ${this.resumedFrom.seq}`);
      this.expectNext = start + 1;
      this.epoch = info.top.epoch;
    } else {
      this.expectNext = info.top.seq + 1;
      this.epoch = info.top.epoch;
      if (!this.detached) {
        this.client.seen.push({ reset: info.reason });
        this.client.pos = info.top;
      }
    }
  }

  send(event: LogEvent): void {
    if (this.expectNext === undefined) return void this.client.problems.push('event before open');
    if (this.ended) this.client.problems.push(`event after end (${this.ended})`);
    // A subscription from the top of a topic nobody published to yet learns its epoch from the first event.
    if (this.epoch === '' && this.expectNext === 1) this.epoch = event.epoch;
    if (event.epoch !== this.epoch || event.seq !== this.expectNext) {
      this.client.problems.push(`expected ${this.epoch}:${this.expectNext}, got ${event.epoch}:${event.seq}`);
    }
    this.expectNext = event.seq + 1;
    if (this.detached) return;
    this.client.seen.push({ event: { epoch: event.epoch, seq: event.seq } });
    this.client.pos = { epoch: event.epoch, seq: event.seq };
  }

  backlog(): number {
    return 0;
  }

  end(reason: EndReason): void {
    this.ended = reason;
  }
}

class World {
  now = 0;
  backend!: MemoryBackend;
  hub!: StreamHub;
  readonly clients = Array.from({ length: CLIENTS }, (_, i) => new Client(TOPICS[i % TOPICS.length]!));
  private pending: Promise<unknown>[] = [];

  constructor(
    private readonly size: number,
    private readonly maxReplay: number,
  ) {
    this.boot();
  }

  private boot(): void {
    this.backend = new MemoryBackend(() => ({ size: this.size, ttlMs: TTL_MS }), { now: () => this.now, sweepEveryMs: 3_600_000 });
    this.hub = new StreamHub(this.backend, { maxReplay: this.maxReplay, subscriberBufferBytes: 1 << 30 });
  }

  async run(op: Op): Promise<void> {
    switch (op.kind) {
      case 'publish': {
        const hub = this.hub;
        const p = (async () => {
          for (let i = 0; i < op.count; i++) await hub.publish(TOPICS[op.topic]!, 'msg', { i });
        })();
        return this.maybeWait(p, op.wait);
      }
      case 'connect': {
        const client = this.clients[op.client]!;
        this.disconnect(client);
        const start: StartAt =
          op.from === 'resume' && client.pos ? { from: 'position', position: client.pos } : op.from === 'top' ? { from: 'top' } : { from: 'start' };
        const conn = new Connection(client, start.from === 'position' ? start.position : undefined);
        client.conn = conn;
        conn.sub = this.hub.subscribe(client.topic, start, conn);
        if (op.from !== 'resume' || !client.pos) client.seen.push({ reset: `fresh from ${start.from}` });
        return this.maybeWait(conn.sub, op.wait);
      }
      case 'disconnect':
        return this.disconnect(this.clients[op.client]!);
      case 'expire':
        this.now += TTL_MS + 1;
        this.backend.sweep();
        return;
      case 'restart':
        await this.settle();
        await this.hub.close();
        await this.backend.close();
        for (const c of this.clients) c.conn = undefined;
        this.boot();
        return;
      case 'settle':
        return this.settle();
    }
  }

  private disconnect(client: Client): void {
    const conn = client.conn;
    if (!conn) return;
    conn.detached = true;
    client.conn = undefined;
    this.pending.push(conn.sub!.then((s) => s.close()));
  }

  private async maybeWait(p: Promise<unknown>, wait: boolean): Promise<void> {
    if (wait) await p;
    else this.pending.push(p);
  }

  async settle(): Promise<void> {
    while (this.pending.length) await Promise.all(this.pending.splice(0));
  }

  /** Every client resumes one last time and catches up with its topic. */
  async finish(): Promise<void> {
    await this.settle();
    for (let i = 0; i < CLIENTS; i++) await this.run({ kind: 'connect', client: i, from: 'resume', wait: true });
    await this.settle();
  }

  async top(topic: string): Promise<Position> {
    return (await this.backend.recover(topic, { from: 'top' }, 0)).top;
  }

  async close(): Promise<void> {
    await this.hub.close();
    await this.backend.close();
  }
}

/** In order, no duplicates, no gaps, except right after an explicit reset. */
function checkSeen(seen: Seen[]): string[] {
  const problems: string[] = [];
  let last: Position | undefined;
  for (const s of seen) {
    if ('reset' in s) {
      last = undefined;
      continue;
    }
    const e = s.event;
    if (last && (e.epoch !== last.epoch || e.seq !== last.seq + 1)) problems.push(`${last.epoch}:${last.seq} then ${e.epoch}:${e.seq}`);
    last = e;
  }
  return problems;
}

describe('stream log properties (fast-check)', () => {
  it(`every subscriber sees the log in order, without duplicates or gaps, unless told recovered:false (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 30 }), fc.integer({ min: 3, max: 60 }), fc.array(opArb, { maxLength: 60 }), async (size, maxReplay, ops) => {
        const world = new World(size, maxReplay);
        try {
          for (const op of ops) await world.run(op);
          await world.finish();
          for (const client of world.clients) {
            expect(client.problems).toEqual([]);
            expect(checkSeen(client.seen)).toEqual([]);
            // After the last resume every client is level with its topic (a resume it could not make was said).
            const top = await world.top(client.topic);
            if (top.seq > 0) expect(client.pos).toEqual(top);
          }
        } finally {
          await world.close();
        }
      }),
      { numRuns: RUNS },
    );
  }, 120_000);

  it(`a resume within history is always recovered:true and replays exactly what was missed (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 }), async (before, seenUpTo, after) => {
        const size = before + after + 1;
        const world = new World(size, size);
        try {
          const hub = world.hub;
          for (let i = 0; i < before; i++) await hub.publish('t0', 'msg', i);
          const epoch = (await world.top('t0')).epoch;
          const from = Math.min(seenUpTo, before);
          for (let i = 0; i < after; i++) await hub.publish('t0', 'msg', i);
          const client = new Client('t0');
          const conn = new Connection(client, { epoch, seq: from });
          await hub.subscribe('t0', { from: 'position', position: { epoch, seq: from } }, conn);
          expect(client.problems).toEqual([]);
          expect(client.seen.map((s) => ('event' in s ? s.event.seq : -1))).toEqual(Array.from({ length: before + after - from }, (_, i) => from + 1 + i));
        } finally {
          await world.close();
        }
      }),
      { numRuns: RUNS },
    );
  });
});
