import { lazy, StrictMode, Suspense, useEffect, useState, type ComponentType, type LazyExoticComponent } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { useRoute, type Route } from './route';
import './styles.css';

// Pages other than the workspace load on first visit only: the workspace's first load stays small.
const PAGES: Record<Exclude<Route, 'compare'>, { Page: LazyExoticComponent<ComponentType>; loading: string }> = {
  events: { Page: lazy(() => import('./events/EventsConsole').then((m) => ({ default: m.EventsConsole }))), loading: 'Loading the events console…' },
  jobs: { Page: lazy(() => import('./jobs/JobsPage').then((m) => ({ default: m.JobsPage }))), loading: 'Loading jobs…' },
  ops: { Page: lazy(() => import('./ops/OpsDashboard').then((m) => ({ default: m.OpsDashboard }))), loading: 'Loading the dashboard…' },
  account: { Page: lazy(() => import('./account/AccountPage').then((m) => ({ default: m.AccountPage }))), loading: 'Loading…' },
};

const TITLES: Record<Route, string> = {
  compare: 'Tributary · Compare',
  events: 'Tributary · Events',
  jobs: 'Tributary · Jobs',
  ops: 'Tributary · Ops',
  account: 'Tributary · Account',
};

/** Pages stay mounted once opened, so a running comparison, live subscriptions and job progress survive switching tabs; the account page reloads each visit. */
function Root() {
  const route = useRoute();
  const [opened, setOpened] = useState<ReadonlySet<Route>>(() => new Set([route]));
  useEffect(() => {
    document.title = TITLES[route];
    setOpened((set) => (set.has(route) ? set : new Set([...set, route])));
  }, [route]);
  return (
    <>
      <div className="page" hidden={route !== 'compare'}>
        <App />
      </div>
      {(Object.keys(PAGES) as (keyof typeof PAGES)[]).map((name) => {
        const { Page, loading } = PAGES[name];
        const show = name === 'account' ? route === 'account' : opened.has(name);
        return (
          show && (
            <div key={name} className="page" hidden={route !== name}>
              <Suspense
                fallback={
                  <main className="boot">
                    <p className="muted">{loading}</p>
                  </main>
                }
              >
                <Page />
              </Suspense>
            </div>
          )
        );
      })}
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <Root />
  </StrictMode>,
);
