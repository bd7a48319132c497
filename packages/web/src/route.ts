import { useSyncExternalStore } from 'react';

/**
 * The app's pages, addressed by the URL hash so the server needs no routes for them: `/` compare,
 * `#/events` the console, `#/jobs` batch jobs, `#/ops` the dashboard, `#/account` the account.
 */
const PAGES = ['events', 'jobs', 'ops', 'account'] as const;
export type Route = 'compare' | (typeof PAGES)[number];

export const routeOf = (hash: string): Route =>
  PAGES.find((page) => hash === `#/${page}` || hash.startsWith(`#/${page}/`) || hash.startsWith(`#/${page}?`)) ?? 'compare';

const onHashChange = (notify: () => void) => {
  window.addEventListener('hashchange', notify);
  return () => window.removeEventListener('hashchange', notify);
};

export function useRoute(): Route {
  return useSyncExternalStore(onHashChange, () => routeOf(window.location.hash));
}
