import { lazy, StrictMode, Suspense, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { useRoute } from './route';
import './styles.css';

// The console loads on first visit only: the compare workspace's first load stays as small as before.
const EventsConsole = lazy(() => import('./events/EventsConsole').then((m) => ({ default: m.EventsConsole })));

const OpsDashboard = lazy(() => import('./ops/OpsDashboard').then((m) => ({ default: m.OpsDashboard })));
const AccountPage = lazy(() => import('./account/AccountPage').then((m) => ({ default: m.AccountPage })));

const TITLES = { compare: 'Tributary · Compare', events: 'Tributary · Events', ops: 'Tributary · Ops', account: 'Tributary · Account' } as const;

/** Both pages stay mounted once opened, so a running comparison and live subscriptions survive switching tabs. */
function Root() {
  const route = useRoute();
  const [consoleOpened, setConsoleOpened] = useState(route === 'events');
  const [opsOpened, setOpsOpened] = useState(route === 'ops');
  useEffect(() => {
    document.title = TITLES[route];
    if (route === 'events') setConsoleOpened(true);
    if (route === 'ops') setOpsOpened(true);
  }, [route]);
  return (
    <>
      <div className="page" hidden={route !== 'compare'}><App /></div>
      {route === 'account' && (
        <div className="page">
          <Suspense fallback={<main className="boot"><p className="muted">Loading…</p></main>}>
            <AccountPage />
          </Suspense>
        </div>
      )}
      {consoleOpened && (
        <div className="page" hidden={route !== 'events'}>
          <Suspense fallback={<main className="boot"><p className="muted">Loading the events console…</p></main>}>
            <EventsConsole />
          </Suspense>
        </div>
      )}
      {opsOpened && (
        <div className="page" hidden={route !== 'ops'}>
          <Suspense fallback={<main className="boot"><p className="muted">Loading the dashboard…</p></main>}>
            <OpsDashboard />
          </Suspense>
        </div>
      )}
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <Root />
  </StrictMode>,
);
