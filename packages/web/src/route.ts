import { useSyncExternalStore } from 'react';

/** The app's pages, addressed by the URL hash so the server needs no routes for them: `/` compare, `#/events` the console, `#/ops` the dashboard. */
export type Route = 'compare' | 'events' | 'ops';

export const routeOf = (hash: string): Route => (/^#\/events\b/.test(hash) ? 'events' : /^#\/ops\b/.test(hash) ? 'ops' : 'compare');

const onHashChange = (notify: () => void) => {
  window.addEventListener('hashchange', notify);
  return () => window.removeEventListener('hashchange', notify);
};

export function useRoute(): Route {
  return useSyncExternalStore(onHashChange, () => routeOf(window.location.hash));
}
