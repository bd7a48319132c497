import type { Route } from '../route';

const TABS: { route: Route; href: string; label: string }[] = [
  { route: 'compare', href: '#/', label: 'Compare' },
  { route: 'events', href: '#/events', label: 'Events' },
  { route: 'ops', href: '#/ops', label: 'Ops' },
  { route: 'account', href: '#/account', label: 'Account' },
  { route: 'jobs', href: '#/jobs', label: 'Jobs' },
];

/** Links between the app's pages; the current one is marked for assistive technology too. */
export function NavTabs({ current }: { current: Route }) {
  return (
    <nav className="tabs" aria-label="Pages">
      {TABS.map((t) => (
        <a key={t.route} href={t.href} className={t.route === current ? 'tab active' : 'tab'} aria-current={t.route === current ? 'page' : undefined}>
          {t.label}
        </a>
      ))}
    </nav>
  );
}
