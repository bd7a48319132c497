import type { ComparisonRecord, TributaryClient } from '@tributary/client';
import { useCallback, useEffect, useState } from 'react';

/** Past comparisons from the server: reopen one (its whole conversation) or delete it. */
export function HistoryPanel(props: {
  client: TributaryClient;
  refreshKey: number;
  onOpen: (r: ComparisonRecord) => void;
  onDeleted: (id: string) => void;
  onClose: () => void;
}) {
  const { client, refreshKey, onOpen, onDeleted, onClose } = props;
  const [items, setItems] = useState<ComparisonRecord[]>();
  const [error, setError] = useState<string>();

  const load = useCallback(() => {
    client.list({ limit: 50 }).then(setItems, (e: Error) => setError(e.message));
  }, [client]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: refreshKey is the parent's signal to reload
  useEffect(load, [load, refreshKey]);

  const remove = async (r: ComparisonRecord) => {
    try {
      await client.purge(r.id);
      onDeleted(r.id);
      setItems((list) => list?.filter((x) => x.id !== r.id));
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <aside className="history" aria-label="History">
      <div className="history-head">
        <h2>History</h2>
        <button type="button" className="icon" onClick={load}>
          Refresh
        </button>
        <button type="button" className="icon" onClick={onClose} aria-label="Close history">
          ✕
        </button>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {!items && !error && <p className="muted">Loading…</p>}
      {items?.length === 0 && <p className="muted">No comparisons yet.</p>}
      <ul>
        {items?.map((r) => (
          <li key={r.id} className="history-item" data-comparison={r.id}>
            <button type="button" className="history-open" onClick={() => onOpen(r)} title="Reopen this conversation">
              <span className="history-prompt">{r.prompt}</span>
              <span className="muted small">
                {new Date(r.createdAt).toLocaleString()} · {r.models.length} model{r.models.length === 1 ? '' : 's'} · {r.status}
              </span>
            </button>
            <button type="button" className="icon danger" onClick={() => remove(r)} aria-label={`Delete “${r.prompt.slice(0, 40)}”`}>
              Delete
            </button>
          </li>
        ))}
      </ul>
    </aside>
  );
}
