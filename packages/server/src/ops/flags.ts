import { createHash } from 'node:crypto';
import type { Config, FlagRule } from '../config/schema.js';

export type FlagName = string;
export type { FlagRule };

/** A flag's new rule, as it travels between nodes. */
export interface FlagChange {
  name: FlagName;
  rule: FlagRule;
}

/**
 * How a change reaches every node: in-process for one node, Redis pub/sub (`flag-bus-redis.ts`)
 * for a cluster (each node applies what it receives).
 */
export interface FlagChangeBus {
  publish(change: FlagChange): Promise<void>;
  subscribe(listener: (change: FlagChange) => void): () => void;
  /** Told when changes may have been missed (a reconnect): listeners reload the stored state. */
  onResync?(listener: () => void): () => void;
  close?(): Promise<void>;
}

export class InProcessFlagBus implements FlagChangeBus {
  private readonly listeners = new Set<(change: FlagChange) => void>();
  async publish(change: FlagChange): Promise<void> {
    for (const l of this.listeners) l(change);
  }
  subscribe(listener: (change: FlagChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** A sticky bucket in [0, 100) with two decimals: the same flag and identity always land in the same one. */
export function bucketOf(flag: FlagName, identityKey: string): number {
  const digest = createHash('sha256').update(flag).update('\u0000').update(identityKey).digest();
  return (digest.readUInt32BE(0) % 10_000) / 100;
}

/** Normalises a config value (`true`/`false` or a rule) into a rule. */
export function ruleOf(value: boolean | FlagRule): FlagRule {
  return typeof value === 'boolean' ? { enabled: value, rollout: 100, allow: [], deny: [] } : value;
}

/**
 * The feature flags of one node, read per request (never cached by callers) so changes apply at
 * once. Off beats everything; then deny, then allow, then the rollout bucket. Because the bucket is
 * fixed per identity, raising the rollout only adds identities: one in at 30 % stays in at 60 %.
 */
export class Flags {
  private readonly rules = new Map<FlagName, FlagRule>();
  private readonly listeners = new Set<(change: FlagChange) => void>();

  constructor(initial: Config['flags']) {
    for (const [name, value] of Object.entries(initial)) this.rules.set(name, ruleOf(value));
  }

  has(name: FlagName): boolean {
    return this.rules.has(name);
  }

  /** The switch alone (ignores rollout): for checks that have no identity. */
  isEnabled(name: FlagName): boolean {
    return this.rules.get(name)?.enabled ?? false;
  }

  /** Whether this identity (see `identityKeyOf`) is in the flag. */
  evaluate(name: FlagName, identityKey: string): boolean {
    const rule = this.rules.get(name);
    if (!rule?.enabled) return false;
    if (rule.deny.includes(identityKey)) return false;
    if (rule.allow.includes(identityKey) || rule.rollout >= 100) return true;
    return rule.rollout > 0 && bucketOf(name, identityKey) < rule.rollout;
  }

  evaluateAll(identityKey: string): Record<FlagName, boolean> {
    const out: Record<FlagName, boolean> = {};
    for (const name of this.rules.keys()) out[name] = this.evaluate(name, identityKey);
    return out;
  }

  list(): Array<{ name: FlagName } & FlagRule> {
    return [...this.rules].map(([name, rule]) => ({ name, ...rule }));
  }

  /** Sets a rule on this node (from the change bus or stored state). */
  apply(change: FlagChange): void {
    this.rules.set(change.name, { ...change.rule, allow: [...change.rule.allow], deny: [...change.rule.deny] });
    for (const l of this.listeners) l(change);
  }

  onChange(listener: (change: FlagChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
