import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { FlagChange, FlagChangeBus } from './flags.js';

interface Message extends FlagChange {
  origin: string;
}

/**
 * Flag changes over Redis pub/sub: every node subscribes to one channel and applies what
 * arrives. The publishing node applies its change at once (not on its own echo), so a change is
 * in force here even while Redis is down; the other nodes reload the stored flags whenever
 * their subscription comes back, since pub/sub keeps nothing for a node that was away.
 */
export class RedisFlagBus implements FlagChangeBus {
  private readonly origin = randomBytes(8).toString('base64url');
  private readonly listeners = new Set<(change: FlagChange) => void>();
  private readonly resyncs = new Set<() => void>();
  private subscribed = false;

  /** `subscriber` is a connection of its own (a subscribed connection takes no other commands); the bus closes it. */
  constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly channel: string,
  ) {
    subscriber.on('error', () => undefined);
    subscriber.on('message', (ch: string, text: string) => {
      if (ch !== this.channel) return;
      let message: Message;
      try {
        message = JSON.parse(text) as Message;
      } catch {
        return;
      }
      if (message.origin === this.origin) return;
      for (const l of this.listeners) l({ name: message.name, rule: message.rule });
    });
    // ioredis subscribes again after a reconnect; what was published meanwhile is lost.
    subscriber.on('ready', () => {
      if (!this.subscribed) return;
      for (const r of this.resyncs) r();
    });
  }

  /** Subscribes (waits for Redis to confirm), so no change published after start is missed. */
  async start(): Promise<void> {
    await this.subscriber.subscribe(this.channel);
    this.subscribed = true;
  }

  async publish(change: FlagChange): Promise<void> {
    for (const l of this.listeners) l(change);
    await this.publisher.publish(this.channel, JSON.stringify({ ...change, origin: this.origin } satisfies Message));
  }

  subscribe(listener: (change: FlagChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onResync(listener: () => void): () => void {
    this.resyncs.add(listener);
    return () => this.resyncs.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.resyncs.clear();
    await this.subscriber.quit().catch(() => this.subscriber.disconnect());
  }
}
