import { useSyncExternalStore } from 'react';
import { auth } from './session';

/** How many model responses are left today, in the workspace's top bar. */
export function LimitsBadge() {
  useSyncExternalStore(auth.subscribe, auth.getVersion);
  const daily = auth.limits?.limits.responses_per_day;
  if (!auth.limits) return null;
  const who = auth.user ? auth.user.email : 'anonymous';
  return (
    <span className="limits-badge" data-testid="responses-left" data-remaining={daily?.remaining ?? ''} title={`Signed in as ${who}`}>
      {daily ? `${daily.remaining} of ${daily.limit} responses left today` : 'No daily limit'}
      <span className="muted"> · {who}</span>
    </span>
  );
}
