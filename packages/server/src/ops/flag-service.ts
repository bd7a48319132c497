import { TributaryError } from '../errors.js';
import type { AuditRecord, OpsStore } from '../store/types.js';
import type { FlagChangeBus, FlagRule, Flags } from './flags.js';

/** A change as the admin API takes it: omitted lists keep their current value. */
export interface FlagUpdate {
  enabled: boolean;
  rollout: number;
  allow?: string[] | undefined;
  deny?: string[] | undefined;
}

/**
 * Runtime flag changes: persisted, audited, then announced on the bus; every node (this one
 * included) applies what the bus delivers, so a cluster converges without a restart.
 */
export class FlagService {
  private unsubscribe: (() => void)[] = [];

  constructor(
    private readonly flags: Flags,
    private readonly store: OpsStore,
    private readonly bus: FlagChangeBus,
    /** The audit trail (identity's); never holds more than names and rules. */
    private readonly audit: (row: Omit<AuditRecord, 'at'>) => void,
  ) {}

  /** Applies the stored state over the config's (the last admin change wins across restarts), then listens. */
  async start(onError: (err: unknown) => void = () => undefined): Promise<void> {
    await this.reload();
    this.unsubscribe.push(this.bus.subscribe((change) => this.flags.apply(change)));
    // Changes made while this node was cut off from the bus are in the database.
    if (this.bus.onResync) this.unsubscribe.push(this.bus.onResync(() => void this.reload().catch(onError)));
  }

  private async reload(): Promise<void> {
    for (const stored of await this.store.loadFlags()) {
      if (this.flags.has(stored.name)) this.flags.apply({ name: stored.name, rule: stored.rule });
    }
  }

  async update(name: string, update: FlagUpdate, actor: string): Promise<FlagRule> {
    const before = this.flags.list().find((f) => f.name === name);
    if (!before) throw new TributaryError('flag_not_found', `No feature flag ${name}.`, { flag: name });
    const rule: FlagRule = {
      enabled: update.enabled,
      rollout: update.rollout,
      allow: update.allow ?? before.allow,
      deny: update.deny ?? before.deny,
    };
    await this.store.saveFlag({ name, rule, updatedAt: new Date(), updatedBy: actor });
    const { name: _, ...previous } = before;
    this.audit({ actor, action: 'flag.update', target: name, outcome: 'ok', details: { before: previous, after: rule } });
    await this.bus.publish({ name, rule });
    return rule;
  }

  /** Stops listening; the bus belongs to whoever made it (several apps may share one). */
  async close(): Promise<void> {
    for (const off of this.unsubscribe.splice(0)) off();
  }
}
