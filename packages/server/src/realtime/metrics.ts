import type { StreamHub } from '../streams/hub.js';
import type { Identity } from './auth.js';

export type TransportName = 'websocket' | 'seed' | 'sse' | 'poll';

/** Counters of the realtime hub; the seed's `/v2/realtime/metrics` shape is one view of them. */
export class RealtimeMetrics {
  totalConnections = 0;
  eventsDelivered = 0;
  /** Deflated frames handed to connections. */
  compressedMessages = 0;
  /** Deflate runs: one per event and window size, however many receivers. */
  compressionsPrepared = 0;
  missedEventsReplayed = 0;
  slowConsumerDisconnects = 0;
  published = 0;
  duplicatesSuppressed = 0;
  protocolErrors = 0;
  /** Largest send buffer seen on a connection when it was cut as a slow consumer. */
  peakSlowConsumerBufferBytes = 0;
  private readonly active: Record<TransportName, number> = { websocket: 0, seed: 0, sse: 0, poll: 0 };
  /** Connection requests that reached a transport (before authentication), and those that connected. */
  readonly attempts: Record<TransportName, number> = { websocket: 0, seed: 0, sse: 0, poll: 0 };
  readonly successes: Record<TransportName, number> = { websocket: 0, seed: 0, sse: 0, poll: 0 };
  private readonly orgs = new Map<string, number>();

  constructor(private readonly hub: StreamHub) {}

  /** Counts a connection until the returned function is called (once). */
  connected(transport: TransportName, identity: Identity): () => void {
    this.totalConnections++;
    this.successes[transport]++;
    this.active[transport]++;
    if (identity.org) this.orgs.set(identity.org, (this.orgs.get(identity.org) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.active[transport]--;
      if (identity.org) {
        const n = (this.orgs.get(identity.org) ?? 1) - 1;
        if (n === 0) this.orgs.delete(identity.org);
        else this.orgs.set(identity.org, n);
      }
    };
  }

  attempt(transport: TransportName): void {
    this.attempts[transport]++;
  }

  activeBy(transport: TransportName): number {
    return this.active[transport];
  }

  slowConsumer(bufferedBytes: number): void {
    this.slowConsumerDisconnects++;
    this.peakSlowConsumerBufferBytes = Math.max(this.peakSlowConsumerBufferBytes, bufferedBytes);
  }

  get activeConnections(): number {
    return this.active.websocket + this.active.seed + this.active.sse + this.active.poll;
  }

  /** The seed's fields, then ours. `totalSubscriptions` counts broker feeds (one per channel in use). */
  snapshot() {
    const hub = this.hub.stats();
    return {
      activeConnections: this.activeConnections,
      totalConnections: this.totalConnections,
      eventsDelivered: this.eventsDelivered,
      compressedMessages: this.compressedMessages,
      missedEventsReplayed: this.missedEventsReplayed,
      connectionPoolStats: { totalSubscriptions: hub.topics, totalConnections: this.activeConnections, totalOrgs: this.orgs.size },
      connectionsByTransport: { ...this.active },
      subscribers: hub.subscribers,
      published: this.published,
      duplicatesSuppressed: this.duplicatesSuppressed,
      compressionsPrepared: this.compressionsPrepared,
      slowConsumerDisconnects: this.slowConsumerDisconnects,
      peakSlowConsumerBufferBytes: this.peakSlowConsumerBufferBytes,
      protocolErrors: this.protocolErrors,
    };
  }
}
