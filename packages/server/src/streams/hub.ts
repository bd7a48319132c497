import type { LogEvent, Recovery, RecoveryFailure, StartAt, StreamBackend, Position } from './types.js';

export type EndReason = 'finished' | 'slow_consumer' | 'closed' | 'shutdown';

/** A transport's side of one subscription (an SSE response, a WebSocket channel, …). */
export interface Sink {
  /** Called once, before any event, with the answer to the requested start position. */
  open(recovery: RecoveryInfo): void;
  send(event: LogEvent): void;
  /** Bytes queued for this client and not yet handed to the network. */
  backlog(): number;
  /**
   * Resolves once the client took its queue (or is gone). When a sink has it, a replay larger than
   * the buffer waits for the client instead of cutting it as a slow consumer.
   */
  drained?(): Promise<void>;
  /** Holds writes back until the returned function is called: a replay leaves in few writes, not one per event. */
  cork?(): () => void;
  /** The hub is done with this sink (it will not call it again). */
  end(reason: EndReason): void;
}

export type RecoveryInfo = { recovered: true; top: Position; replayed: number } | { recovered: false; reason: RecoveryFailure; top: Position };

export interface Subscription {
  close(): void;
}

/** Sees what passes through the hub (metrics); called synchronously, so it must be cheap. */
export interface HubObserver {
  /** After the event is in the log and handed to local subscribers. */
  published(event: LogEvent): void;
  /** A subscription that asked to resume from a position, with the answer it got. */
  resumed(topic: string, recovered: boolean): void;
}

/** One subscription as the hub holds it; also the handle its owner closes (one object per subscription). */
class Subscriber implements Subscription {
  lastSeq = 0;
  /** Live events that arrived while history was being read; null once live. */
  pending: LogEvent[] | null = [];
  closed = false;

  constructor(
    readonly sink: Sink,
    private readonly hub: StreamHub,
    private readonly topic: string,
  ) {}

  close(): void {
    this.hub.unsubscribe(this.topic, this);
  }
}

interface TopicFeed {
  subscribers: Set<Subscriber>;
  unlisten: Promise<() => void>;
}

export interface HubStats {
  /** Backend feeds held: one per topic with local subscribers. */
  topics: number;
  subscribers: number;
  published: number;
  delivered: number;
  replayed: number;
  slowConsumerDisconnects: number;
  /** Feeds the backend dropped (connection lost, unfillable gap): their subscribers were sent to resume. */
  feedsLost: number;
}

/**
 * Node-local fan-out over a backend: one backend feed per topic however many local
 * subscribers, recovery from a position without gaps or duplicates, and a bounded
 * backlog per subscriber.
 */
export class StreamHub {
  private readonly feeds = new Map<string, TopicFeed>();
  private readonly counters = { published: 0, delivered: 0, replayed: 0, slowConsumerDisconnects: 0, feedsLost: 0 };
  /** The feeds' subscribers summed, kept as they come and go: `stats()` (every /health) walks no feed. */
  private subscriberCount = 0;
  private closing = false;

  constructor(
    readonly backend: StreamBackend,
    private readonly limits: { maxReplay: number; subscriberBufferBytes: number; replayBufferBytes?: number },
    private readonly observer?: HubObserver,
  ) {}

  async publish<T>(topic: string, type: string, data: T, opts: { final?: boolean } = {}): Promise<LogEvent<T>> {
    this.counters.published++;
    const event = (await this.backend.publish(topic, type, data, opts.final ?? false)) as LogEvent<T>;
    this.observer?.published(event);
    return event;
  }

  /** Rejects (503 dependency_unavailable) while the backend's service is unreachable. */
  async ready(): Promise<void> {
    await this.backend.ping?.();
  }

  /** Recovery without subscribing (e.g. long-poll, or a finished topic's replay check). */
  recover(topic: string, start: StartAt): Promise<Recovery> {
    return this.backend.recover(topic, start, this.limits.maxReplay);
  }

  async subscribe(topic: string, start: StartAt, sink: Sink): Promise<Subscription> {
    const sub = new Subscriber(sink, this, topic);
    const feed = this.feedFor(topic);
    feed.subscribers.add(sub);
    this.subscriberCount++;
    const subscription: Subscription = sub;
    try {
      await feed.unlisten; // live events now reach `pending`, so nothing falls between history and live
      const recovery = await this.recover(topic, start);
      if (sub.closed) return subscription;
      // A subscription that raced a shutdown ends at once: nothing may hold the server open.
      if (this.closing) {
        this.remove(topic, sub, 'shutdown');
        return subscription;
      }
      if (start.from === 'position') this.observer?.resumed(topic, recovery.recovered);
      if (recovery.recovered) {
        sub.lastSeq = recovery.top.seq - recovery.events.length;
        sink.open({ recovered: true, top: recovery.top, replayed: recovery.events.length });
        this.counters.replayed += recovery.events.length;
        if (!(await this.replay(topic, sub, recovery.events))) return subscription;
      } else {
        sub.lastSeq = recovery.top.seq;
        sink.open({ recovered: false, reason: recovery.reason, top: recovery.top });
      }
      const pending = sub.pending ?? [];
      sub.pending = null;
      for (const event of pending) if (!this.deliver(topic, sub, event)) return subscription;
      if (recovery.finished && !sub.closed) this.remove(topic, sub, 'finished');
    } catch (err) {
      this.remove(topic, sub, 'closed');
      throw err;
    }
    return subscription;
  }

  /** Sends a recovery's events, corked in runs, waiting for the client between runs when it can. */
  private async replay(topic: string, sub: Subscriber, events: LogEvent[]): Promise<boolean> {
    const { sink } = sub;
    const paced = sink.drained !== undefined;
    // A replay waits for its client past a budget smaller than the live bound: when many
    // clients resume at once (a replay storm) each holds at most this much, whatever it is owed.
    const budget = Math.min(this.limits.replayBufferBytes ?? Infinity, this.limits.subscriberBufferBytes);
    const full = () => sink.backlog() > budget;
    let i = 0;
    while (i < events.length) {
      const uncork = sink.cork?.();
      try {
        while (i < events.length) {
          if (!this.deliver(topic, sub, events[i++]!, paced)) return false;
          if (paced && full()) break;
        }
      } finally {
        uncork?.();
      }
      if (paced && full()) await sink.drained!();
      if (sub.closed) return false;
    }
    return true;
  }

  /** Ends a subscription at its owner's request (`Subscription.close`). */
  unsubscribe(topic: string, sub: Subscriber): void {
    this.remove(topic, sub, 'closed');
  }

  stats(): HubStats {
    return { topics: this.feeds.size, subscribers: this.subscriberCount, ...this.counters };
  }

  /** Ends every subscription (clients reconnect and resume elsewhere or after restart). */
  async close(): Promise<void> {
    this.closing = true;
    for (const [topic, feed] of [...this.feeds]) {
      for (const sub of [...feed.subscribers]) this.remove(topic, sub, 'shutdown');
    }
  }

  private feedFor(topic: string): TopicFeed {
    let feed = this.feeds.get(topic);
    if (!feed) {
      const subscribers = new Set<Subscriber>();
      const unlisten = this.backend.listen(
        topic,
        (event) => {
          for (const sub of subscribers) {
            if (!sub.pending) this.deliver(topic, sub, event);
            // A replay waiting on a client that does not read must not hold live events without bound.
            else if (sub.pending.push(event) > this.limits.maxReplay) {
              this.counters.slowConsumerDisconnects++;
              this.remove(topic, sub, 'slow_consumer');
            }
          }
        },
        () => {
          // The backend cannot promise this feed any more: clients reconnect and resume (exactly, or recovered:false).
          this.counters.feedsLost++;
          for (const sub of [...subscribers]) this.remove(topic, sub, 'shutdown');
        },
      );
      feed = { subscribers, unlisten };
      this.feeds.set(topic, feed);
    }
    return feed;
  }

  /** Sends one event if it is new to this subscriber; false once the subscriber is gone. */
  private deliver(topic: string, sub: Subscriber, event: LogEvent, paced = false): boolean {
    if (sub.closed) return false;
    if (event.seq <= sub.lastSeq) return true;
    sub.lastSeq = event.seq;
    sub.sink.send(event);
    this.counters.delivered++;
    if (event.final) {
      this.remove(topic, sub, 'finished');
      return false;
    }
    if (!paced && sub.sink.backlog() > this.limits.subscriberBufferBytes) {
      this.counters.slowConsumerDisconnects++;
      this.remove(topic, sub, 'slow_consumer');
      return false;
    }
    return true;
  }

  private remove(topic: string, sub: Subscriber, reason: EndReason): void {
    if (sub.closed) return;
    sub.closed = true;
    const feed = this.feeds.get(topic);
    if (feed) {
      if (feed.subscribers.delete(sub)) this.subscriberCount--;
      if (feed.subscribers.size === 0) {
        this.feeds.delete(topic);
        void feed.unlisten.then(
          (stop) => stop(),
          () => undefined,
        );
      }
    }
    sub.sink.end(reason);
  }
}
