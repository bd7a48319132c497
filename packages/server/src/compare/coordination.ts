import type { TierName } from '../config/schema.js';

/** What any node needs to serve a comparison another node runs. */
export interface ClaimedComparison {
  id: string;
  conversationId: string;
  kind: 'compare' | 'chat';
  tier: TierName;
  models: string[];
  owner: string | null;
  createdAt: string;
  /** Kept so a survivor can record a comparison whose owner died before its row was written. */
  prompt: string;
}

export interface CoordinationHandlers {
  /** Another node asked to cancel a comparison this node runs. */
  cancel(id: string): void;
  /** This node claimed the comparison of a node whose lease expired (it died): end it as interrupted. */
  expired(comparison: ClaimedComparison): Promise<void>;
  /** This node's own lease on a comparison was taken (it looked dead to the others): stop running it. */
  lost(id: string): void;
}

/**
 * Which node runs which comparison. Each running comparison holds a lease its node renews;
 * a cancel reaches the owner wherever it was asked; a survivor ends the comparisons of a node
 * whose leases expired. LocalCoordination (one node) and RedisCoordination implement it.
 */
export interface ComparisonCoordination {
  /** Other nodes may start comparisons on the same database while this one starts. */
  readonly shared: boolean;
  start(handlers: CoordinationHandlers): Promise<void>;
  /** Takes the lease of a comparison this node starts (before its row is written). */
  claim(comparison: ClaimedComparison): Promise<void>;
  /** Gives the lease back once the comparison's final event is published. */
  release(id: string): Promise<void>;
  /** A comparison some node runs now, or undefined. */
  find(id: string): Promise<ClaimedComparison | undefined>;
  /** Asks the owning node to cancel; false when no node runs it. */
  requestCancel(id: string): Promise<boolean>;
  /** Ids of comparisons live nodes hold (a starting node spares them when it marks crashed ones). */
  liveIds(): Promise<string[]>;
  close(): Promise<void>;
}

/** One node: every running comparison is in this process, so there is nothing to share. */
export class LocalCoordination implements ComparisonCoordination {
  readonly shared = false;
  async start(): Promise<void> {}
  async claim(): Promise<void> {}
  async release(): Promise<void> {}
  async find(): Promise<undefined> {
    return undefined;
  }
  async requestCancel(): Promise<boolean> {
    return false;
  }
  async liveIds(): Promise<string[]> {
    return [];
  }
  async close(): Promise<void> {}
}
