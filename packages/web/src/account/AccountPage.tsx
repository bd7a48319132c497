import { useCallback, useEffect, useState, useSyncExternalStore, type FormEvent } from 'react';
import { NavTabs } from '../components/NavTabs';
import { download } from '../copy';
import { api, type ApiKey, type UsageLine } from './api';
import { auth, refusalMessage } from './session';

const SCOPES = ['compare', 'chat', 'publish'] as const;
const LIMIT_NAMES: Record<string, string> = {
  responses_per_day: 'Model responses today',
  requests_per_minute: 'Requests this minute',
  extended_per_day: 'Extended-tier requests today',
  tokens_per_day: 'Tokens today',
};

/** Sign up / sign in, or the signed-in account: limits, usage, API keys, export, delete, sign out. */
export function AccountPage() {
  useSyncExternalStore(auth.subscribe, auth.getVersion);
  return (
    <div className="app">
      <header className="topbar">
        <h1>
          <span className="logo" aria-hidden="true">
            ≋
          </span>{' '}
          Tributary
        </h1>
        <NavTabs current="account" />
      </header>
      <main className="account">
        {auth.user ? <Account /> : <SignIn />}
        <Limits />
      </main>
    </div>
  );
}

function SignIn() {
  const [mode, setMode] = useState<'in' | 'up'>('up');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await (mode === 'up' ? auth.signUp(email, password) : auth.signIn(email, password));
    } catch (err) {
      setError(refusalMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="panel" aria-label={mode === 'up' ? 'Sign up' : 'Sign in'}>
      <h2>{mode === 'up' ? 'Create an account' : 'Sign in'}</h2>
      <p className="muted small">Signed-in users get higher limits, API keys and their history on every device.</p>
      <form className="account-form" onSubmit={submit}>
        <label>
          Email <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="email" required />
        </label>
        <label>
          Password{' '}
          <input
            type="password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            autoComplete={mode === 'up' ? 'new-password' : 'current-password'}
            minLength={mode === 'up' ? 8 : 1}
            required
          />
        </label>
        <button type="submit" className="primary" disabled={busy}>
          {mode === 'up' ? 'Sign up' : 'Sign in'}
        </button>
      </form>
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
      <button type="button" className="link" onClick={() => setMode(mode === 'up' ? 'in' : 'up')}>
        {mode === 'up' ? 'Have an account? Sign in' : 'New here? Create an account'}
      </button>
    </section>
  );
}

function Account() {
  const user = auth.user!;
  const [error, setError] = useState<string>();
  const run = (action: () => Promise<unknown>) => action().catch((err: unknown) => setError(refusalMessage(err)));
  const exportData = () => run(async () => download('tributary-account.json', JSON.stringify(await api('GET', '/v1/me/export'), null, 2), 'application/json'));
  const erase = () =>
    run(async () => {
      if (!window.confirm('Delete your account, its comparisons, conversations and keys? This cannot be undone.')) return;
      await api('DELETE', '/v1/me');
      await auth.forget();
    });
  return (
    <>
      <section className="panel" aria-label="Account">
        <h2>Account</h2>
        <p data-testid="account-email">
          {user.email}{' '}
          <span className="muted small">
            · {user.role}
            {user.tier ? ` · tier ${user.tier}` : ''}
          </span>
        </p>
        <div className="row">
          <button type="button" onClick={() => run(() => auth.signOut())}>
            Sign out
          </button>
          <button type="button" onClick={exportData}>
            Export my data
          </button>
          <button type="button" className="danger" onClick={erase}>
            Delete account
          </button>
        </div>
        {error && (
          <p className="error small" role="alert">
            {error}
          </p>
        )}
      </section>
      <Keys />
      <Usage />
    </>
  );
}

function Limits() {
  const limits = auth.limits;
  if (!limits) return null;
  return (
    <section className="panel" aria-label="Limits">
      <h2>Limits left</h2>
      <p className="muted small">
        {limits.kind === 'anonymous' ? 'Anonymous (by IP address)' : `Class: ${limits.class}`} · at most {limits.maxModels ?? 'any number of'} models a request
      </p>
      <table className="table">
        <tbody>
          {Object.entries(limits.limits).map(([name, s]) => (
            <tr key={name} data-limit={name}>
              <th scope="row">{LIMIT_NAMES[name] ?? name}</th>
              <td>
                {s.remaining} of {s.limit} left
              </td>
              <td className="muted small">resets {new Date(s.resetAt).toLocaleString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Keys() {
  const [keys, setKeys] = useState<ApiKey[]>([]);
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['compare', 'chat']);
  const [created, setCreated] = useState<ApiKey>();
  const [error, setError] = useState<string>();
  const load = useCallback(
    () =>
      api<{ keys: ApiKey[] }>('GET', '/v1/keys').then(
        (r) => setKeys(r.keys),
        (err: unknown) => setError(refusalMessage(err)),
      ),
    [],
  );
  useEffect(() => void load(), [load]);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      setCreated(await api<ApiKey>('POST', '/v1/keys', { name, scopes }));
      setName('');
      await load();
    } catch (err) {
      setError(refusalMessage(err));
    }
  };
  const revoke = (id: string) => api('DELETE', `/v1/keys/${encodeURIComponent(id)}`).then(load, (err: unknown) => setError(refusalMessage(err)));
  const toggle = (s: string) => setScopes(scopes.includes(s) ? scopes.filter((x) => x !== s) : [...scopes, s]);
  return (
    <section className="panel" aria-label="API keys">
      <h2>API keys</h2>
      <p className="muted small">
        Use a key as <code>Authorization: Bearer</code> or as the OpenAI SDK's <code>apiKey</code> with base URL <code>{location.origin}/v1</code>.
      </p>
      <form className="account-form" onSubmit={create}>
        <label>
          Name <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />
        </label>
        <fieldset className="scopes">
          <legend className="small">Scopes</legend>
          {SCOPES.map((s) => (
            <label key={s}>
              <input type="checkbox" checked={scopes.includes(s)} onChange={() => toggle(s)} /> {s}
            </label>
          ))}
        </fieldset>
        <button type="submit" className="primary" disabled={scopes.length === 0}>
          Create key
        </button>
      </form>
      {created?.key && (
        <div className="new-key" role="status">
          <p className="small">Copy this key now: it is shown only once.</p>
          <code data-testid="new-key">{created.key}</code>
          <button type="button" onClick={() => void navigator.clipboard?.writeText(created.key!)}>
            Copy
          </button>
          <button type="button" onClick={() => setCreated(undefined)}>
            Done
          </button>
        </div>
      )}
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
      <table className="table" data-testid="keys">
        <tbody>
          {keys.map((k) => (
            <tr key={k.id} data-key-id={k.id}>
              <th scope="row">{k.name}</th>
              <td>
                <code>{k.prefix}…</code>
              </td>
              <td>{k.scopes.join(', ')}</td>
              <td className="muted small">{k.lastUsedAt ? `used ${new Date(k.lastUsedAt).toLocaleString()}` : 'never used'}</td>
              <td>
                {k.revokedAt ? (
                  <span className="muted">revoked</span>
                ) : (
                  <button type="button" onClick={() => void revoke(k.id)}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Usage() {
  const [lines, setLines] = useState<UsageLine[]>();
  useEffect(() => {
    api<{ lines: UsageLine[] }>('GET', '/v1/me/usage?days=30').then(
      (r) => setLines(r.lines),
      () => setLines([]),
    );
  }, []);
  if (!lines) return null;
  return (
    <section className="panel" aria-label="Usage">
      <h2>Usage (30 days)</h2>
      {lines.length === 0 ? (
        <p className="muted small">Nothing yet.</p>
      ) : (
        <table className="table">
          <thead>
            <tr>
              <th>Day</th>
              <th>Model</th>
              <th>Responses</th>
              <th>Tokens in / out</th>
              <th>Cost</th>
            </tr>
          </thead>
          <tbody>
            {lines.map((l) => (
              <tr key={`${l.day}|${l.model}`}>
                <td>{l.day}</td>
                <td>{l.model}</td>
                <td>{l.responses}</td>
                <td>
                  {l.inputTokens} / {l.outputTokens}
                </td>
                <td>${l.costUsd.toFixed(4)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
