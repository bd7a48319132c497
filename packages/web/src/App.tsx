import { TributaryClient, type ClientConfig, type ModelInfo, type Tier } from '@tributary/client';
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { LimitsBadge } from './account/LimitsBadge';
import { auth, refusalMessage } from './account/session';
import { HistoryPanel } from './components/HistoryPanel';
import { ModelCard } from './components/ModelCard';
import { ModelPicker } from './components/ModelPicker';
import { NavTabs } from './components/NavTabs';
import { PromptBox } from './components/PromptBox';
import { download } from './copy';
import { sessionJson, sessionMarkdown } from './export';
import { KEYS, loadJson, saveJson } from './state/storage';
import { Workspace } from './state/workspace';
import { useTheme } from './theme';

// A stream that cannot be resumed within ~2.5 s falls back to polling the comparison's state.
const client = new TributaryClient({ maxResumes: 4, resumeDelayMs: 250 });

interface Catalogue {
  config: ClientConfig;
  groups: Record<string, ModelInfo[]>;
  byId: Map<string, ModelInfo>;
}

export function App() {
  const [catalogue, setCatalogue] = useState<Catalogue>();
  const [loadError, setLoadError] = useState<string>();
  const streamingFlag = useRef(true);
  const [workspace] = useState(() => new Workspace(client, { streaming: () => streamingFlag.current }));
  useSyncExternalStore(workspace.subscribe, workspace.getVersion);
  const [theme, toggleTheme] = useTheme();
  const [selected, setSelected] = useState<string[]>(() => loadJson<string[]>(KEYS.models, []));
  const [tier, setTier] = useState<Tier>(() => loadJson<Tier>(KEYS.tier, 'standard'));
  const [actionError, setActionError] = useState<string>();
  const [historyOpen, setHistoryOpen] = useState(false);
  const [historyKey, setHistoryKey] = useState(0);

  // Signing out (or in as someone else) starts a fresh conversation: the last one belongs to the account.
  const authVersion = useSyncExternalStore(auth.subscribe, auth.getVersion);
  const userRef = useRef<string | null | undefined>(undefined);
  // biome-ignore lint/correctness/useExhaustiveDependencies: authVersion is the signal that auth's fields changed
  useEffect(() => {
    if (!auth.ready && auth.user === undefined) return;
    const id = auth.user?.id ?? null;
    if (userRef.current !== undefined && userRef.current !== id) workspace.clear();
    userRef.current = id;
  }, [authVersion, workspace]);

  useEffect(() => {
    // The session first: resuming an owned comparison needs the refreshed access cookie.
    Promise.all([client.clientConfig(), client.models(), auth.init().catch(() => undefined)]).then(
      ([config, models]) => {
        const byId = new Map(models.models.map((m) => [m.id, m]));
        streamingFlag.current = config.flags.sse_streaming;
        setCatalogue({ config, groups: models.models_by_provider, byId });
        // First visit: three models to start with; later, what the user picked (still offered).
        setSelected((current) => {
          const kept = current.filter((id) => byId.has(id)).slice(0, config.maxModels);
          return kept.length > 0 || localStorage.getItem(KEYS.models) !== null ? kept : models.models.slice(0, Math.min(3, config.maxModels)).map((m) => m.id);
        });
      },
      (err: Error) => setLoadError(`Cannot reach the server: ${err.message}`),
    );
  }, []);

  useEffect(() => {
    if (!catalogue) return;
    workspace.resume();
    const save = () => workspace.persist();
    window.addEventListener('pagehide', save);
    window.addEventListener('beforeunload', save);
    return () => {
      window.removeEventListener('pagehide', save);
      window.removeEventListener('beforeunload', save);
    };
  }, [workspace, catalogue]);

  useEffect(() => {
    if (catalogue) saveJson(KEYS.models, selected);
  }, [catalogue, selected]);
  useEffect(() => saveJson(KEYS.tier, tier), [tier]);

  const name = useCallback((id: string) => catalogue?.byId.get(id)?.name ?? id, [catalogue]);

  if (loadError)
    return (
      <main className="boot">
        <p className="error" role="alert">
          {loadError}
        </p>
      </main>
    );
  if (!catalogue)
    return (
      <main className="boot">
        <p className="muted">Loading the workspace…</p>
      </main>
    );

  const { config } = catalogue;
  const session = workspace.session;
  const running = workspace.running();
  const cards = workspace.models();
  const hidden = new Set(session.hidden);
  const streaming = config.flags.sse_streaming;

  const send = async (prompt: string): Promise<boolean> => {
    setActionError(undefined);
    try {
      await workspace.send({ prompt, models: selected, tier });
      setHistoryKey((k) => k + 1);
      return true;
    } catch (err) {
      setActionError(refusalMessage(err));
      return false;
    } finally {
      void auth.refreshLimits();
    }
  };
  const cancel = () => {
    workspace.cancel().catch((err: Error) => setActionError(err.message));
  };
  const stamp = () => new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');

  return (
    <div className="app">
      <header className="topbar">
        <h1>
          <span className="logo" aria-hidden="true">
            ≋
          </span>{' '}
          Tributary
        </h1>
        <NavTabs current="compare" />
        <LimitsBadge />
        <span className={`mode ${streaming ? 'mode-stream' : 'mode-whole'}`} data-testid="mode">
          {streaming ? 'Streaming' : 'Streaming is off: answers arrive whole'}
        </span>
        <nav className="topbar-actions" aria-label="Workspace">
          <button
            type="button"
            onClick={() => download(`tributary-${stamp()}.md`, sessionMarkdown(session, name), 'text/markdown')}
            disabled={session.turns.length === 0}
          >
            Export Markdown
          </button>
          <button
            type="button"
            onClick={() => download(`tributary-${stamp()}.json`, sessionJson(session), 'application/json')}
            disabled={session.turns.length === 0}
          >
            Export JSON
          </button>
          <button type="button" aria-expanded={historyOpen} onClick={() => setHistoryOpen(!historyOpen)}>
            History
          </button>
          <button type="button" onClick={toggleTheme} aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}>
            {theme === 'dark' ? '☀ Light' : '☾ Dark'}
          </button>
        </nav>
      </header>

      <div className="layout">
        <div className="sidebar">
          <ModelPicker groups={catalogue.groups} selected={selected} max={config.maxModels} onChange={setSelected} />
        </div>

        <main className="workspace">
          {(workspace.notice || !streaming) && (
            <p className="notice" role="status" data-testid="notice">
              {workspace.notice ?? 'Streaming is disabled on this server (flag sse_streaming): the app uses the non-streaming compare endpoint.'}
            </p>
          )}
          <PromptBox
            tiers={config.tiers}
            tier={tier}
            onTier={setTier}
            canSend={selected.length > 0}
            followUp={session.turns.length > 0}
            running={running !== undefined}
            cancellable={running?.mode === 'stream'}
            onSend={send}
            onCancel={cancel}
            onNew={() => workspace.clear()}
          />
          {actionError && (
            <p className="error" role="alert" data-testid="action-error">
              {actionError}
            </p>
          )}

          {hidden.size > 0 && (
            <section className="hidden-bar" aria-label="Hidden cards">
              <span className="muted small">Hidden:</span>
              {[...hidden].map((m) => (
                <button key={m} type="button" className="chip" onClick={() => workspace.setHidden(m, false)} aria-label={`Restore ${name(m)}`}>
                  {name(m)} ↺
                </button>
              ))}
            </section>
          )}

          {cards.length === 0 ? (
            <div className="empty">
              <h2>Compare models side by side</h2>
              <p className="muted">Pick models on the left, write a prompt, press Enter. Every model answers at once; each card streams its own tokens.</p>
            </div>
          ) : (
            <section className="cards" aria-label="Answers">
              {cards
                .filter((m) => !hidden.has(m))
                .map((m) => (
                  <ModelCard
                    key={m}
                    workspace={workspace}
                    model={m}
                    name={name(m)}
                    demo={catalogue.byId.get(m)?.demo ?? m.startsWith('demo/')}
                    structure={workspace.getVersion()}
                  />
                ))}
            </section>
          )}
        </main>

        {historyOpen && (
          <HistoryPanel
            client={client}
            refreshKey={historyKey}
            onOpen={(r) => workspace.open(r).catch((err: Error) => setActionError(err.message))}
            onDeleted={(id) => workspace.forget(id)}
            onClose={() => setHistoryOpen(false)}
          />
        )}
      </div>
    </div>
  );
}
