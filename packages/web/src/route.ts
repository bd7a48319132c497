import { useSyncExternalStore } from 'react';

/** The app's pages, addressed by the URL hash so the server needs no routes for them: `/` compare, `#/events` the console, `#/account` the account. */
export type Route = 'compare' | 'events' | 'account';

export const routeOf = (hash: string): Route => (/^#\/events\b/.test(hash) ? 'events' : /^#\/account\b/.test(hash) ? 'account' : 'compare');

const onHashChange = (notify: () => void) => {
  window.addEventListener('hashchange', notify);
  return () => window.removeEventListener('hashchange', notify);
};

export function useRoute(): Route {
  return useSyncExternalStore(onHashChange, () => routeOf(window.location.hash));
}
