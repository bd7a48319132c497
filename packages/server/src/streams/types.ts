/** A point in a topic's log: the epoch the log had and the last sequence number seen. */
export interface Position {
  epoch: string;
  seq: number;
}

/** One published event. Shared by every subscriber: never mutate it. */
export interface LogEvent<T = unknown> {
  readonly topic: string;
  readonly epoch: string;
  readonly seq: number;
  readonly type: string;
  readonly data: T;
  /** Publish time, ms since the Unix epoch. */
  readonly time: number;
  /** The topic's last event: subscribers end after it. */
  readonly final: boolean;
}

/** Where a subscription starts. */
export type StartAt = { from: 'top' } | { from: 'start' } | { from: 'position'; position: Position };

export type RecoveryFailure = 'epoch_changed' | 'history_truncated' | 'ahead_of_top' | 'too_many_missed' | 'unknown_topic';

/** The answer to "give me everything after this position". Never a silent gap. */
export type Recovery =
  | { recovered: true; events: LogEvent[]; top: Position; finished: boolean }
  | { recovered: false; reason: RecoveryFailure; top: Position; finished: boolean };

export interface HistoryPolicy {
  size: number;
  ttlMs: number;
}

/**
 * Storage and live feed of topics: MemoryBackend (one node) and RedisBackend (Streams for
 * history, pub/sub for the feed, shared by every node) implement the same contract.
 */
export interface StreamBackend {
  publish(topic: string, type: string, data: unknown, final: boolean): Promise<LogEvent>;
  /** Events after `start`, if every one of them is still in history (at most `maxEvents`). */
  recover(topic: string, start: StartAt, maxEvents: number): Promise<Recovery>;
  /**
   * The live feed of a topic. The hub holds at most one per topic. `onLost`: the backend can no
   * longer promise every event on this feed (a shared backend lost its connection, or a gap it
   * could not fill); the feed is gone and its subscribers must resume.
   */
  listen(topic: string, onEvent: (event: LogEvent) => void, onLost?: () => void): Promise<() => void>;
  /** Rejects (503 dependency_unavailable) while a backend's service is unreachable. */
  ping?(): Promise<void>;
  close(): Promise<void>;
}
