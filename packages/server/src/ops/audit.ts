import type { AuditRecord, OpsStore } from '../store/types.js';

/** The one place admin changes are audited (identity's audit table replaces the target, not the callers). */
export function audit(store: OpsStore, record: Omit<AuditRecord, 'at'>): Promise<void> {
  return store.audit({ at: new Date(), ...record });
}
