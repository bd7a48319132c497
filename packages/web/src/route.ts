import { useSyncExternalStore } from 'react';

/** The app's pages, addressed by the URL hash so the server needs no routes for them: `/` compare, `#/events` the console, `#/jobs` batch jobs. */
export type Route = 'compare' | 'events' | 'jobs';

export const routeOf = (hash: string): Route => (/^#\/events\b/.test(hash) ? 'events' : /^#\/jobs\b/.test(hash) ? 'jobs' : 'compare');

const onHashChange = (notify: () => void) => {
  window.addEventListener('hashchange', notify);
  return () => window.removeEventListener('hashchange', notify);
};

export function useRoute(): Route {
  return useSyncExternalStore(onHashChange, () => routeOf(window.location.hash));
}
