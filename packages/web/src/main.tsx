import { lazy, StrictMode, Suspense, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { useRoute } from './route';
import './styles.css';

// The console loads on first visit only: the compare workspace's first load stays as small as before.
const EventsConsole = lazy(() => import('./events/EventsConsole').then((m) => ({ default: m.EventsConsole })));

const JobsPage = lazy(() => import('./jobs/JobsPage').then((m) => ({ default: m.JobsPage })));

const TITLES = { compare: 'Tributary · Compare', events: 'Tributary · Events', jobs: 'Tributary · Jobs' } as const;

/** Pages stay mounted once opened, so a running comparison and live subscriptions survive switching tabs. */
function Root() {
  const route = useRoute();
  const [consoleOpened, setConsoleOpened] = useState(route === 'events');
  const [jobsOpened, setJobsOpened] = useState(route === 'jobs');
  useEffect(() => {
    document.title = TITLES[route];
    if (route === 'events') setConsoleOpened(true);
    if (route === 'jobs') setJobsOpened(true);
  }, [route]);
  return (
    <>
      <div className="page" hidden={route !== 'compare'}><App /></div>
      {consoleOpened && (
        <div className="page" hidden={route !== 'events'}>
          <Suspense fallback={<main className="boot"><p className="muted">Loading the events console…</p></main>}>
            <EventsConsole />
          </Suspense>
        </div>
      )}
      {jobsOpened && (
        <div className="page" hidden={route !== 'jobs'}>
          <Suspense fallback={<main className="boot"><p className="muted">Loading jobs…</p></main>}>
            <JobsPage />
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
