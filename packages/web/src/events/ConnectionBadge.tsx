import type { ConnectionState, TransportName } from '@tributary/client';

const LABELS: Record<ConnectionState, string> = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  closed: 'Closed',
};

export const TRANSPORT_LABELS: Record<TransportName, string> = { websocket: 'websocket', sse: 'sse', poll: 'long-poll' };

/** The realtime connection's state and the transport it runs on. */
export function ConnectionBadge({ state, transport }: { state: ConnectionState; transport?: TransportName }) {
  return (
    <div className={`connection connection-${state}`} role="status" aria-live="polite">
      <span className="dot" aria-hidden="true" />
      <span data-testid="connection-state" data-state={state}>
        {LABELS[state]}
      </span>
      <span className="muted">via</span>
      <span className="transport" data-testid="transport">
        {transport ? TRANSPORT_LABELS[transport] : '—'}
      </span>
    </div>
  );
}
