import { useEffect, useState, useSyncExternalStore, type FormEvent } from 'react';
import { NavTabs } from '../components/NavTabs';
import type { Report } from '@tributary/client/verify';
import { OpsSession, type OpsSnapshot } from './ops-session';

/** The live operations dashboard (admin): fed by the server's `ops:metrics` snapshots, not by polling. */
export function OpsDashboard() {
  const [session, setSession] = useState<OpsSession>();
  useEffect(() => {
    const s = new OpsSession();
    setSession(s);
    return () => s.close();
  }, []);
  if (!session) return null;
  return <DashboardView session={session} />;
}

function DashboardView({ session }: { session: OpsSession }) {
  const view = useSyncExternalStore(session.listen, session.getSnapshot);
  const latest = view.history.at(-1);
  return (
    <div className="app ops-dashboard">
      <header className="topbar">
        <h1>
          <span className="logo" aria-hidden="true">
            ≋
          </span>{' '}
          Tributary
        </h1>
        <NavTabs current="ops" />
        <span className="badge" data-testid="feed-state" data-state={view.state}>
          {view.state.replace('_', ' ')}
        </span>
      </header>
      {view.state === 'signed_out' || view.state === 'unauthorized' ? (
        <SignIn session={session} error={view.error} />
      ) : (
        <main className="ops-layout">
          {latest ? <Figures history={view.history} latest={latest} /> : <p className="muted">Waiting for the first snapshot…</p>}
          {latest && <AlertsPanel alerts={latest.alerts} />}
          {latest && <FlagsPanel session={session} flags={latest.flags} />}
          {latest && <ModelsPanel models={latest.models} />}
          <VerifyPanel session={session} />
        </main>
      )}
    </div>
  );
}

function SignIn({ session, error }: { session: OpsSession; error?: string | undefined }) {
  const [token, setToken] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    session.signIn(token);
  };
  return (
    <main className="ops-layout">
      <form className="panel" onSubmit={submit} aria-label="Admin sign-in">
        <h2>Admin token</h2>
        <p className="muted">The dashboard needs the server's admin token (TRIBUTARY_ADMIN_TOKEN). It stays in this tab only.</p>
        <input type="password" aria-label="Admin token" value={token} onChange={(e) => setToken(e.target.value)} autoComplete="off" />
        <button type="submit" className="primary">
          Open dashboard
        </button>
        {error && (
          <p className="error" data-testid="signin-error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

const ms = (v: number | null) => (v === null ? '–' : `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`);
const pct = (v: number | null) => (v === null ? '–' : `${v.toFixed(1)} %`);
const mib = (bytes: number) => `${(bytes / 1_048_576).toFixed(0)} MiB`;

function Figures({ history, latest }: { history: OpsSnapshot[]; latest: OpsSnapshot }) {
  const c = latest.connections;
  const tiles: Array<{ id: string; label: string; value: string; series?: Array<number | null> }> = [
    { id: 'ttft-p50', label: 'TTFT p50', value: ms(latest.ttftMs.p50) },
    { id: 'ttft-p95', label: 'TTFT p95', value: ms(latest.ttftMs.p95), series: history.map((h) => h.ttftMs.p95) },
    { id: 'ttft-p99', label: 'TTFT p99', value: ms(latest.ttftMs.p99) },
    { id: 'gap-p95', label: 'Inter-token p95', value: ms(latest.gapMs.p95), series: history.map((h) => h.gapMs.p95) },
    { id: 'added-p95', label: 'Gateway-added p95', value: ms(latest.addedMsP95) },
    { id: 'error-rate', label: 'Error rate', value: pct(latest.errorRatePercent), series: history.map((h) => h.errorRatePercent) },
    {
      id: 'errors-by-class',
      label: 'Errors by class (since start)',
      value:
        Object.entries(latest.errorsByCode)
          .sort(([, a], [, b]) => b - a)
          .map(([code, n]) => `${code} ${n}`)
          .join(' · ') || '–',
    },
    { id: 'tokens-per-second', label: 'Tokens/s', value: String(Math.round(latest.tokensPerSecond)), series: history.map((h) => h.tokensPerSecond) },
    { id: 'events-per-second', label: 'Events/s', value: String(Math.round(latest.eventsPerSecond)), series: history.map((h) => h.eventsPerSecond) },
    { id: 'connections', label: 'Connections', value: `${c.websocket ?? 0} ws · ${c.seed ?? 0} seed · ${c.sse ?? 0} sse · ${c.poll ?? 0} poll` },
    { id: 'connection-success', label: 'Connections made / tried', value: `${latest.connectionSuccesses} / ${latest.connectionAttempts}` },
    { id: 'reconnects', label: 'Reconnects', value: String(latest.reconnects) },
    { id: 'rate-limited', label: 'Rate-limit hits', value: String(latest.rateLimited) },
    {
      id: 'job-queue',
      label: 'Job queue',
      value: latest.jobs ? `${latest.jobs.queuedItems} queued · ${latest.jobs.runningItems} running · ${latest.jobs.activeJobs} jobs` : '–',
      series: history.map((h) => h.jobs?.queuedItems ?? null),
    },
    { id: 'memory', label: 'Memory (RSS)', value: mib(latest.memory.rssBytes), series: history.map((h) => h.memory.rssBytes) },
    { id: 'event-loop', label: 'Event-loop delay p99', value: ms(latest.eventLoopDelayMsP99), series: history.map((h) => h.eventLoopDelayMsP99) },
  ];
  return (
    <section className="panel ops-figures" aria-label="Figures">
      {tiles.map((t) => (
        <div key={t.id} className="ops-tile" data-testid={`figure-${t.id}`}>
          <span className="muted">{t.label}</span>
          <strong data-testid={`value-${t.id}`}>{t.value}</strong>
          {t.series && <Sparkline values={t.series} />}
        </div>
      ))}
    </section>
  );
}

/** A small line of the recent values (nulls are gaps); enough to see a trend without a chart library. */
function Sparkline({ values }: { values: Array<number | null> }) {
  const nums = values.filter((v): v is number => v !== null);
  if (nums.length < 2) return <svg className="sparkline" aria-hidden="true" />;
  const max = Math.max(...nums);
  const min = Math.min(...nums);
  const span = max - min || 1;
  const points = values
    .map((v, i) => (v === null ? null : `${((i / (values.length - 1)) * 100).toFixed(1)},${(28 - ((v - min) / span) * 26).toFixed(1)}`))
    .filter(Boolean)
    .join(' ');
  return (
    <svg className="sparkline" viewBox="0 0 100 30" preserveAspectRatio="none" aria-hidden="true">
      <polyline points={points} fill="none" stroke="currentColor" strokeWidth="1.5" vectorEffect="non-scaling-stroke" />
    </svg>
  );
}

function AlertsPanel({ alerts }: { alerts: OpsSnapshot['alerts'] }) {
  const shown = alerts.filter((a) => a.state !== 'ok');
  return (
    <section className="panel" aria-label="Alerts">
      <h2>Alerts</h2>
      {shown.length === 0 ? (
        <p className="muted" data-testid="alerts-none">
          All clear.
        </p>
      ) : (
        <ul className="ops-alerts">
          {shown.map((a) => (
            <li key={a.name} data-testid="alert" data-name={a.name} data-state={a.state} className={a.state}>
              <strong>{a.state}</strong> {a.description} — now {a.value ?? '–'}
              {a.unit === '%' ? ' %' : ` ${a.unit}`}
              {a.since && <span className="muted"> since {new Date(a.since).toLocaleTimeString()}</span>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function FlagsPanel({ session, flags }: { session: OpsSession; flags: OpsSnapshot['flags'] }) {
  const [error, setError] = useState<string>();
  const change = (name: string, rule: { enabled: boolean; rollout: number }) => {
    setError(undefined);
    session.setFlag(name, rule).catch((err: Error) => setError(err.message));
  };
  return (
    <section className="panel" aria-label="Flags">
      <h2>Flags and rollout</h2>
      <table className="ops-table">
        <thead>
          <tr>
            <th>Flag</th>
            <th>State</th>
            <th>Rollout</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {flags.map((f) => (
            <tr key={f.name} data-testid="flag" data-name={f.name} data-enabled={String(f.enabled)}>
              <td>{f.name}</td>
              <td>{f.enabled ? 'on' : 'off'}</td>
              <td>
                <input
                  type="number"
                  min={0}
                  max={100}
                  step={1}
                  aria-label={`Rollout of ${f.name}`}
                  defaultValue={f.rollout}
                  key={f.rollout}
                  onBlur={(e) => {
                    const v = Number(e.target.value);
                    if (v !== f.rollout && v >= 0 && v <= 100) change(f.name, { enabled: f.enabled, rollout: v });
                  }}
                />{' '}
                %
              </td>
              <td>
                <button type="button" onClick={() => change(f.name, { enabled: !f.enabled, rollout: f.rollout })}>
                  {f.enabled ? `Turn ${f.name} off` : `Turn ${f.name} on`}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {error && (
        <p className="error" data-testid="flag-error">
          {error}
        </p>
      )}
    </section>
  );
}

function ModelsPanel({ models }: { models: OpsSnapshot['models'] }) {
  return (
    <section className="panel" aria-label="Models">
      <h2>Models</h2>
      <table className="ops-table">
        <thead>
          <tr>
            <th>Model</th>
            <th>Runs</th>
            <th>Errors</th>
            <th>Last TTFT</th>
          </tr>
        </thead>
        <tbody>
          {models.map((m) => (
            <tr key={m.model} data-testid="model-row" data-model={m.model}>
              <td>{m.model}</td>
              <td>{m.runs}</td>
              <td>{m.errors}</td>
              <td>{ms(m.lastTtftMs)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** Runs the smoke profile of `tributary verify` against this server and shows its report. */
function VerifyPanel({ session }: { session: OpsSession }) {
  const [running, setRunning] = useState(false);
  const [report, setReport] = useState<Report>();
  const [error, setError] = useState<string>();
  const run = () => {
    setRunning(true);
    setError(undefined);
    session
      .runVerify()
      .then(setReport, (err: Error) => setError(err.message))
      .finally(() => setRunning(false));
  };
  return (
    <section className="panel" aria-label="Verify">
      <h2>Verify (smoke)</h2>
      <p className="muted">
        The deployment checklist, measured against this server from outside (<code>tributary verify --profile smoke</code>); takes about 15 s.
      </p>
      <button type="button" className="primary" onClick={run} disabled={running}>
        {running ? 'Running…' : 'Run smoke check'}
      </button>
      {error && (
        <p className="error" data-testid="verify-error">
          {error}
        </p>
      )}
      {report && (
        <>
          <p data-testid="verify-summary" data-passed={String(report.passed)}>
            <strong>{report.passed ? 'Passed' : 'Failed'}</strong>: {report.summary.pass} passed, {report.summary.fail} failed, {report.summary.skip} skipped in{' '}
            {(report.durationMs / 1000).toFixed(1)} s<span className="muted"> (client CPU {report.client.cores} cores)</span>
          </p>
          <table className="ops-table">
            <thead>
              <tr>
                <th>Check</th>
                <th>Result</th>
                <th>Why</th>
              </tr>
            </thead>
            <tbody>
              {report.checks.map((c) => (
                <tr key={c.id} data-testid="verify-check" data-id={c.id} data-status={c.status} className={c.status}>
                  <td>{c.title}</td>
                  <td>{c.status}</td>
                  <td>{c.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
