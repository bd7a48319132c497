import { randomBytes } from 'node:crypto';
import type { HistoryPolicy, LogEvent, Recovery, StartAt, StreamBackend } from './types.js';

interface TopicLog {
  epoch: string;
  top: number;
  /** Oldest first; trimmed by size on publish and by age on sweep. */
  events: LogEvent[];
  finished: boolean;
  listeners: Set<(event: LogEvent) => void>;
  lastPublish: number;
}

export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

/** Single-node backend. Its epochs are per process, so a restart reads as `epoch_changed`. */
export class MemoryBackend implements StreamBackend {
  /** Insertion order is creation order: eviction walks it oldest first. */
  private readonly topics = new Map<string, TopicLog>();
  private readonly sweeper: NodeJS.Timeout;
  /** Events held across all topics. */
  private total = 0;

  private readonly now: () => number;
  /** Cap on events held across all topics, so memory stays bounded whatever the topic count. */
  private readonly maxTotalEvents: number;

  constructor(
    private readonly policy: (topic: string) => HistoryPolicy,
    opts: { now?: () => number; sweepEveryMs?: number; maxTotalEvents?: number } = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.maxTotalEvents = opts.maxTotalEvents ?? Infinity;
    this.sweeper = setInterval(() => this.sweep(), opts.sweepEveryMs ?? 10_000);
    this.sweeper.unref();
  }

  private log(topic: string): TopicLog {
    let log = this.topics.get(topic);
    if (!log) {
      log = { epoch: newEpoch(), top: 0, events: [], finished: false, listeners: new Set(), lastPublish: this.now() };
      this.topics.set(topic, log);
    }
    return log;
  }

  async publish(topic: string, type: string, data: unknown, final: boolean): Promise<LogEvent> {
    const log = this.log(topic);
    if (log.finished) throw new Error(`topic ${topic} is finished`);
    const time = this.now();
    const event: LogEvent = { topic, epoch: log.epoch, seq: ++log.top, type, data, time, final };
    log.events.push(event);
    this.total++;
    log.lastPublish = time;
    if (final) log.finished = true;
    const { size } = this.policy(topic);
    if (log.events.length > size) this.drop(log, log.events.length - size);
    if (this.total > this.maxTotalEvents) this.evict();
    for (const listener of log.listeners) listener(event);
    return event;
  }

  async recover(topic: string, start: StartAt, maxEvents: number): Promise<Recovery> {
    const log = this.topics.get(topic);
    if (!log) {
      const top = { epoch: '', seq: 0 };
      return start.from === 'top' ? { recovered: true, events: [], top, finished: false } : { recovered: false, reason: 'unknown_topic', top, finished: false };
    }
    this.trimByAge(topic, log);
    const top = { epoch: log.epoch, seq: log.top };
    const finished = log.finished;
    if (start.from === 'top') return { recovered: true, events: [], top, finished };
    let after: number;
    if (start.from === 'start') after = 0;
    else {
      if (start.position.epoch !== log.epoch) return { recovered: false, reason: 'epoch_changed', top, finished };
      after = start.position.seq;
    }
    if (after > log.top) return { recovered: false, reason: 'ahead_of_top', top, finished };
    const missed = log.top - after;
    if (missed > maxEvents) return { recovered: false, reason: 'too_many_missed', top, finished };
    if (missed === 0) return { recovered: true, events: [], top, finished };
    const oldest = log.events[0]?.seq ?? log.top + 1;
    if (after + 1 < oldest) return { recovered: false, reason: 'history_truncated', top, finished };
    return { recovered: true, events: log.events.slice(after + 1 - oldest), top, finished };
  }

  async listen(topic: string, onEvent: (event: LogEvent) => void): Promise<() => void> {
    const log = this.log(topic);
    log.listeners.add(onEvent);
    return () => log.listeners.delete(onEvent);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.topics.clear();
    this.total = 0;
  }

  /** Events held across all topics (for metrics and tests). */
  heldEvents(): number {
    return this.total;
  }

  private drop(log: TopicLog, count: number): void {
    log.events.splice(0, count);
    this.total -= count;
  }

  /**
   * Over the global cap: forget finished, unwatched topics oldest first; if that is not
   * enough, trim the oldest events of the oldest topics (resumers then get recovered:false).
   */
  private evict(): void {
    for (const [topic, log] of this.topics) {
      if (this.total <= this.maxTotalEvents) return;
      if (log.finished && log.listeners.size === 0) {
        this.drop(log, log.events.length);
        this.topics.delete(topic);
      }
    }
    for (const log of this.topics.values()) {
      if (this.total <= this.maxTotalEvents) return;
      this.drop(log, Math.min(log.events.length, this.total - this.maxTotalEvents));
    }
  }

  private trimByAge(topic: string, log: TopicLog): void {
    const cutoff = this.now() - this.policy(topic).ttlMs;
    let drop = 0;
    while (drop < log.events.length && log.events[drop]!.time < cutoff) drop++;
    if (drop > 0) this.drop(log, drop);
  }

  /** Drops expired events, and whole topics nobody listens to once their history is empty. */
  sweep(): void {
    for (const [topic, log] of this.topics) {
      this.trimByAge(topic, log);
      if (log.events.length === 0 && log.listeners.size === 0 && this.now() - log.lastPublish >= this.policy(topic).ttlMs) {
        this.topics.delete(topic);
      }
    }
  }
}
