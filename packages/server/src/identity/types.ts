import type { TierLimits } from '../config/schema.js';

export const SCOPES = ['compare', 'chat', 'publish', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];
export type Role = 'user' | 'admin';

/** Who is calling, resolved from a request's credentials (identity/authenticator.ts). */
export type Caller =
  | { kind: 'anonymous'; ip: string }
  | { kind: 'user'; ip: string; userId: string; role: Role; tier: string | null; sessionId: string }
  | {
      kind: 'key';
      ip: string;
      keyId: string;
      scopes: readonly Scope[];
      /** null for the configured publish key, which belongs to no user. */
      userId: string | null;
      role: Role;
      tier: string | null;
      /** The key's own limits, on top of its user's. */
      limits?: TierLimits | null;
    };

/** The owner recorded on what a caller starts: its user, or null when anonymous. */
export function ownerOf(caller: Caller): string | null {
  return caller.kind === 'anonymous' ? null : caller.userId;
}

/** How the caller appears in the audit trail. */
export function actorOf(caller: Caller): string {
  if (caller.kind === 'user') return `user:${caller.userId}`;
  if (caller.kind === 'key') return `key:${caller.keyId}`;
  return 'anonymous';
}

export function hasScope(caller: Caller, scope: Scope): boolean {
  if (caller.kind === 'anonymous') return scope !== 'admin' && scope !== 'publish';
  if (scope === 'admin' && caller.role !== 'admin') return false;
  if (caller.kind === 'user') return true;
  return caller.scopes.includes(scope);
}
