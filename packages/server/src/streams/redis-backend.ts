import { Redis, type RedisOptions } from 'ioredis';
import { TributaryError } from '../errors.js';
import { newEpoch } from './memory-backend.js';
import type { HistoryPolicy, LogEvent, Recovery, StartAt, StreamBackend } from './types.js';

/**
 * One atomic step per publish, so every node numbers a topic's events alike: the epoch is made
 * once per topic, the sequence number comes from the topic's counter, the event goes into the
 * topic's stream under the id `<seq>-0` (capped by length) and out on its channel, encoded once.
 * The time is Redis's clock, never earlier than the previous event's: age cuts are monotonic.
 */
const PUBLISH_LUA = `
local meta, stream = KEYS[1], KEYS[2]
local st = redis.call('HMGET', meta, 'epoch', 'fin', 'ts')
if st[2] == '1' then return redis.error_reply('FINISHED topic is finished') end
local epoch = st[1]
if not epoch then epoch = ARGV[1] end
local seq = redis.call('HINCRBY', meta, 'top', 1)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = tonumber(st[3] or '0')
if now < last then now = last end
local msg = string.format('%d %d %s %s ', seq, now, ARGV[3], epoch) .. ARGV[2]
redis.call('HSET', meta, 'epoch', epoch, 'ts', now, 'fin', ARGV[3])
redis.call('XADD', stream, 'MAXLEN', ARGV[4], seq .. '-0', 'm', msg)
redis.call('PEXPIRE', stream, ARGV[5])
redis.call('PEXPIRE', meta, ARGV[6])
redis.call('PUBLISH', ARGV[7], msg)
return {seq, now, epoch}
`;

/** A watched topic exists from its first watcher on (as in memory): its epoch is made now, so a client that watched from the top can resume exactly. */
const OPEN_LUA = `
if redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('HMGET', KEYS[1], 'epoch', 'top')
`;

/** `<seq> <time> <final 0|1> <epoch> <json [type, data]>`: the stream entry and the channel message alike. */
function decode(topic: string, msg: string): LogEvent {
  const a = msg.indexOf(' ');
  const b = msg.indexOf(' ', a + 1);
  const c = msg.indexOf(' ', b + 1);
  const d = msg.indexOf(' ', c + 1);
  const [type, data] = JSON.parse(msg.slice(d + 1)) as [string, unknown];
  return {
    topic,
    seq: Number(msg.slice(0, a)),
    time: Number(msg.slice(a + 1, b)),
    final: msg.slice(b + 1, c) === '1',
    epoch: msg.slice(c + 1, d),
    type,
    data,
  };
}

type Entries = [id: string, fields: string[]][];

interface Feed {
  listeners: Set<{ onEvent: (event: LogEvent) => void; onLost: () => void }>;
  /** Last sequence number handed to listeners (null until the top is read after subscribing). */
  last: number | null;
  epoch: string | null;
  /** Messages held while the top is read or a gap is filled, in arrival order. */
  queue: LogEvent[];
  busy: boolean;
  subscribed: Promise<void>;
}

/** Metadata outlives history by a day, so an idle topic keeps its epoch and numbering while it can. */
const META_EXTRA_MS = 86_400_000;

export interface RedisBackendOptions {
  url: string;
  keyPrefix: string;
  /** Most events one gap fill reads; a larger gap tells the topic's listeners the feed is lost. */
  maxGapFill?: number;
  /** Called with Redis connection trouble (logged by the app). */
  onError?: (err: Error) => void;
}

/**
 * The stream log in Redis, shared by every node: history in a Redis Stream per topic (capped by
 * length on publish, by age when read and by key expiry), epoch and counter in a hash per topic,
 * live events on one pub/sub channel per topic — one SUBSCRIBE per topic per node, however many
 * local subscribers (the hub holds one feed per topic). A node that sees a sequence gap on the
 * channel fills it from the stream, or, when it cannot, tells the topic's listeners the feed is
 * lost (their clients reconnect and get an honest recovery answer). Redis unreachable: calls
 * fail at once with `503 dependency_unavailable`, never queue.
 */
export class RedisBackend implements StreamBackend {
  readonly name = 'redis';
  private readonly cmd: Redis & {
    tribPublish(meta: string, stream: string, ...args: (string | number)[]): Promise<[number, number, string]>;
    tribOpen(meta: string, epoch: string, ttlMs: number): Promise<[string, string | null]>;
  };
  private readonly sub: Redis;
  private readonly feeds = new Map<string, Feed>();
  private readonly byChannel = new Map<string, string>();
  private readonly maxGapFill: number;
  private closed = false;

  constructor(
    private readonly policy: (topic: string) => HistoryPolicy,
    private readonly opts: RedisBackendOptions,
  ) {
    const common: RedisOptions = {
      // Fail fast while Redis is away: a publish must answer 503, not wait in a queue.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 5_000,
      retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
      lazyConnect: true,
    };
    // Concurrent publishes and reads share round trips (one pipeline per tick).
    this.cmd = new Redis(opts.url, { ...common, enableAutoPipelining: true, connectionName: 'tributary-cmd' }) as RedisBackend['cmd'];
    this.cmd.defineCommand('tribPublish', { numberOfKeys: 2, lua: PUBLISH_LUA });
    this.cmd.defineCommand('tribOpen', { numberOfKeys: 1, lua: OPEN_LUA });
    this.sub = new Redis(opts.url, { ...common, connectionName: 'tributary-sub', autoResubscribe: true });
    this.maxGapFill = opts.maxGapFill ?? 10_000;
    const report = (err: Error) => opts.onError?.(err);
    this.cmd.on('error', report);
    this.sub.on('error', report);
    this.sub.on('message', (channel: string, msg: string) => this.onMessage(channel, msg));
    // The feed connection dropped: messages may have been lost meanwhile, so every local
    // subscriber is told (its client reconnects and resumes exactly, or hears recovered:false).
    this.sub.on('close', () => {
      for (const topic of [...this.feeds.keys()]) this.lose(topic);
    });
  }

  /** Connects both connections; resolves false if Redis did not answer within `timeoutMs` (they keep retrying). */
  async connect(timeoutMs: number): Promise<boolean> {
    const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
    const ready = Promise.all([this.cmd.connect(), this.sub.connect()]).then(
      () => true,
      () => false,
    );
    return Promise.race([ready, timeout]);
  }

  private key(topic: string, kind: 'm' | 's' | 'c'): string {
    return `${this.opts.keyPrefix}{${topic}}:${kind}`;
  }

  /** Redis errors become `503 dependency_unavailable`; our own refusals pass through. */
  private unavailable(err: unknown): TributaryError {
    if (err instanceof TributaryError) return err;
    return new TributaryError('dependency_unavailable', `Redis is unavailable: ${(err as Error).message}`, { dependency: 'redis', retryAfterSeconds: 1 });
  }

  async ping(): Promise<void> {
    if (this.sub.status !== 'ready') throw this.unavailable(new Error(`feed connection ${this.sub.status}`));
    try {
      await this.cmd.ping();
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  async publish(topic: string, type: string, data: unknown, final: boolean): Promise<LogEvent> {
    const { size, ttlMs } = this.policy(topic);
    let reply: [number, number, string];
    try {
      reply = await this.cmd.tribPublish(
        this.key(topic, 'm'),
        this.key(topic, 's'),
        newEpoch(),
        JSON.stringify([type, data]),
        final ? '1' : '0',
        size,
        ttlMs,
        ttlMs + META_EXTRA_MS,
        this.key(topic, 'c'),
      );
    } catch (err) {
      if ((err as Error).message?.startsWith('FINISHED')) throw new Error(`topic ${topic} is finished`);
      throw this.unavailable(err);
    }
    const [seq, time, epoch] = reply;
    return { topic, epoch, seq: Number(seq), type, data, time: Number(time), final };
  }

  async recover(topic: string, start: StartAt, maxEvents: number): Promise<Recovery> {
    const after = start.from === 'position' ? start.position.seq : 0;
    const tx = this.cmd.multi().hmget(this.key(topic, 'm'), 'epoch', 'top', 'fin');
    // One round trip: the metadata and (unless only the top is wanted) the events after the position.
    if (start.from !== 'top') tx.xrange(this.key(topic, 's'), `${after + 1}-0`, '+', 'COUNT', Math.min(maxEvents, 1_000_000) + 1);
    let results: [Error | null, unknown][] | null;
    try {
      results = await tx.exec();
    } catch (err) {
      throw this.unavailable(err);
    }
    if (!results) throw this.unavailable(new Error('transaction aborted'));
    for (const [err] of results) if (err) throw this.unavailable(err);
    const [epoch, topStr, fin] = results[0]![1] as (string | null)[];
    if (!epoch) {
      const top = { epoch: '', seq: 0 };
      return start.from === 'top' ? { recovered: true, events: [], top, finished: false } : { recovered: false, reason: 'unknown_topic', top, finished: false };
    }
    const top = { epoch, seq: Number(topStr) };
    const finished = fin === '1';
    if (start.from === 'top') return { recovered: true, events: [], top, finished };
    if (start.from === 'position' && start.position.epoch !== epoch) return { recovered: false, reason: 'epoch_changed', top, finished };
    if (after > top.seq) return { recovered: false, reason: 'ahead_of_top', top, finished };
    const missed = top.seq - after;
    if (missed > maxEvents) return { recovered: false, reason: 'too_many_missed', top, finished };
    if (missed === 0) return { recovered: true, events: [], top, finished };
    const entries = results[1]![1] as Entries;
    const cutoff = Date.now() - this.policy(topic).ttlMs;
    const first = entries[0];
    // The first event after the position must be there, and young enough; later ones are then too.
    if (!first || first[0] !== `${after + 1}-0` || decode(topic, first[1][1]!).time < cutoff) {
      return { recovered: false, reason: 'history_truncated', top, finished };
    }
    const events: LogEvent[] = [];
    for (let i = 0; i < entries.length && i < missed; i++) events.push(decode(topic, entries[i]![1][1]!));
    return { recovered: true, events, top, finished };
  }

  async listen(topic: string, onEvent: (event: LogEvent) => void, onLost: () => void = () => undefined): Promise<() => void> {
    const listener = { onEvent, onLost };
    let feed = this.feeds.get(topic);
    if (!feed) {
      const channel = this.key(topic, 'c');
      const created: Feed = { listeners: new Set(), last: null, epoch: null, queue: [], busy: true, subscribed: Promise.resolve() };
      feed = created;
      this.feeds.set(topic, created);
      this.byChannel.set(channel, topic);
      created.subscribed = (async () => {
        try {
          await this.sub.subscribe(channel);
          // Subscribed first, then the top: anything published after the read arrives on the channel.
          const [epoch, top] = await this.cmd.tribOpen(this.key(topic, 'm'), newEpoch(), this.policy(topic).ttlMs + META_EXTRA_MS);
          created.epoch = epoch;
          created.last = Number(top ?? 0);
        } catch (err) {
          this.drop(topic);
          throw this.unavailable(err);
        }
        created.busy = false;
        void this.drain(topic, created);
      })();
    }
    feed.listeners.add(listener);
    await feed.subscribed;
    return () => {
      const current = this.feeds.get(topic);
      if (!current) return;
      current.listeners.delete(listener);
      if (current.listeners.size === 0) this.drop(topic);
    };
  }

  private drop(topic: string): void {
    if (!this.feeds.delete(topic)) return;
    const channel = this.key(topic, 'c');
    this.byChannel.delete(channel);
    if (!this.closed && this.sub.status === 'ready') this.sub.unsubscribe(channel).catch(() => undefined);
  }

  /** The feed can no longer promise every event: its listeners are told, and it is dropped. */
  private lose(topic: string): void {
    const feed = this.feeds.get(topic);
    if (!feed) return;
    this.drop(topic);
    for (const l of [...feed.listeners]) l.onLost();
  }

  private onMessage(channel: string, msg: string): void {
    const topic = this.byChannel.get(channel);
    const feed = topic === undefined ? undefined : this.feeds.get(topic);
    if (!feed) return;
    const event = decode(topic!, msg);
    if (feed.busy || feed.queue.length > 0) {
      feed.queue.push(event);
      return;
    }
    if (!this.accept(topic!, feed, event)) void this.fill(topic!, feed, event);
  }

  /** Delivers an event that follows the last one; false (nothing done) when there is a gap before it. */
  private accept(topic: string, feed: Feed, event: LogEvent): boolean {
    if (feed.epoch !== null && event.epoch !== feed.epoch) {
      // The topic was forgotten and started again: its numbering restarted under us.
      this.lose(topic);
      return true;
    }
    feed.epoch = event.epoch;
    if (event.seq <= feed.last!) return true; // already delivered (read with the top, or filled)
    if (event.seq > feed.last! + 1) return false;
    feed.last = event.seq;
    for (const l of feed.listeners) l.onEvent(event);
    return true;
  }

  /** A message came after a gap (pub/sub dropped or reordered): read the missing events from the stream. */
  private async fill(topic: string, feed: Feed, event: LogEvent): Promise<void> {
    feed.busy = true;
    feed.queue.unshift(event);
    await this.drain(topic, feed);
  }

  private async drain(topic: string, feed: Feed): Promise<void> {
    feed.busy = true;
    while (feed.queue.length > 0 && this.feeds.get(topic) === feed) {
      const next = feed.queue[0]!;
      if (this.accept(topic, feed, next)) {
        feed.queue.shift();
        continue;
      }
      const from = feed.last! + 1;
      const to = next.seq - 1;
      let entries: Entries | undefined;
      if (to - from + 1 <= this.maxGapFill) {
        try {
          entries = (await this.cmd.xrange(this.key(topic, 's'), `${from}-0`, `${to}-0`)) as Entries;
        } catch {
          entries = undefined;
        }
      }
      if (!entries || entries.length !== to - from + 1 || entries[0]![0] !== `${from}-0`) {
        this.lose(topic);
        return;
      }
      for (const [, fields] of entries) this.accept(topic, feed, decode(topic, fields[1]!));
    }
    feed.busy = false;
  }

  /** Feeds held (one SUBSCRIBE each). */
  subscriptions(): number {
    return this.feeds.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.feeds.clear();
    this.byChannel.clear();
    this.sub.disconnect();
    await this.cmd.quit().catch(() => this.cmd.disconnect());
  }
}
