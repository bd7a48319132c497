import { useEffect, useState, useSyncExternalStore } from 'react';
import { NavTabs } from '../components/NavTabs';
import { ChannelsPanel } from './ChannelsPanel';
import { ConnectionBadge } from './ConnectionBadge';
import { ConsoleSession } from './console-session';
import { EventList } from './EventList';
import { PublishPanel } from './PublishPanel';

/** The events console: subscribe to channels, watch their events with positions, publish test events. */
export function EventsConsole() {
  const [session, setSession] = useState<ConsoleSession>();
  // One realtime client per mounted console (an effect, so StrictMode's double mount closes the first).
  useEffect(() => {
    const s = new ConsoleSession({ url: '' });
    setSession(s);
    return () => s.close();
  }, []);
  if (!session) return null;
  return <ConsoleView session={session} />;
}

function ConsoleView({ session }: { session: ConsoleSession }) {
  const view = useSyncExternalStore(session.listen, session.getSnapshot);
  const [publishChannel, setPublishChannel] = useState('public:demo');
  return (
    <div className="app events-console">
      <header className="topbar">
        <h1>
          <span className="logo" aria-hidden="true">
            ≋
          </span>{' '}
          Tributary
        </h1>
        <NavTabs current="events" />
        <ConnectionBadge state={view.connection.state} transport={view.connection.transport} />
      </header>
      <div className="console-layout">
        <div className="console-side">
          <ChannelsPanel
            channels={view.channels}
            errors={view.errors}
            onSubscribe={(c) => session.subscribe(c)}
            onUnsubscribe={(c) => session.unsubscribe(c)}
            onPick={setPublishChannel}
          />
          <PublishPanel channel={publishChannel} onChannel={setPublishChannel} />
        </div>
        <main className="console-main">
          {view.notices.length > 0 && (
            <ul className="notices" aria-label="Recovery notices">
              {view.notices.map((n) => (
                <li key={n.key} className="notice" data-testid="recovery-notice">
                  <strong>{n.channel}</strong>: recovered:false ({n.reason}) — events may have been missed; live again from {n.top.epoch}:{n.top.seq}.
                </li>
              ))}
            </ul>
          )}
          <EventList events={view.events} onClear={() => session.clearEvents()} />
        </main>
      </div>
    </div>
  );
}
