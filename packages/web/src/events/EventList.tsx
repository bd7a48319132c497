import type { ReceivedEvent } from './console-session';
import { MAX_EVENTS } from './console-session';

const time = (ms: number) => new Date(ms).toISOString().slice(11, 23);

/** Received events, newest first, each with its channel, position, type, publish time and data. */
export function EventList({ events, onClear }: { events: ReceivedEvent[]; onClear(): void }) {
  return (
    <section className="panel events" aria-label="Events">
      <div className="panel-head">
        <h2>Events</h2>
        <span className="muted small" data-testid="event-count">
          {events.length} shown (newest first, last {MAX_EVENTS} kept)
        </span>
        <button type="button" className="icon" onClick={onClear} disabled={events.length === 0}>
          Clear
        </button>
      </div>
      {events.length === 0 ? (
        <p className="muted">Waiting for events on the subscribed channels…</p>
      ) : (
        <ol className="event-list">
          {events.map((e) => (
            <li key={e.key} className="event" data-channel={e.channel} data-position={`${e.epoch}:${e.seq}`}>
              <div className="event-head">
                <span className="event-channel">{e.channel}</span>
                <code className="event-position" data-testid="event-position">
                  {e.epoch}:{e.seq}
                </code>
                <span className="event-type" data-testid="event-type">
                  {e.event}
                </span>
                <time className="muted small" dateTime={new Date(e.time).toISOString()}>
                  {time(e.time)}
                </time>
              </div>
              <pre className="event-data" data-testid="event-data">
                {JSON.stringify(e.data, null, 2)}
              </pre>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
