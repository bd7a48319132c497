import type { ModelInfo } from '@tributary/client';
import { useId, useMemo, useState } from 'react';

/** Models grouped by provider, searchable, at most `max` selected. */
export function ModelPicker(props: { groups: Record<string, ModelInfo[]>; selected: string[]; max: number; onChange: (ids: string[]) => void }) {
  const { groups, selected, max, onChange } = props;
  const [query, setQuery] = useState('');
  const searchId = useId();
  const full = selected.length >= max;
  const filtered = useMemo(() => {
    const q = query.trim().toLowerCase();
    const out: [string, ModelInfo[]][] = [];
    for (const [provider, models] of Object.entries(groups)) {
      const hits = q ? models.filter((m) => `${m.id} ${m.name} ${provider}`.toLowerCase().includes(q)) : models;
      if (hits.length > 0) out.push([provider, hits]);
    }
    return out;
  }, [groups, query]);

  const toggle = (id: string, on: boolean) => onChange(on ? [...selected, id].slice(0, max) : selected.filter((s) => s !== id));

  return (
    <section className="picker" aria-labelledby={`${searchId}-title`}>
      <div className="picker-head">
        <h2 id={`${searchId}-title`}>Models</h2>
        <span className={`picker-count${full ? ' full' : ''}`} aria-live="polite" data-testid="selected-count">
          {selected.length} of {max} selected
        </span>
        <button type="button" className="link" onClick={() => onChange([])} disabled={selected.length === 0}>
          Clear
        </button>
      </div>
      <label htmlFor={searchId} className="visually-hidden">
        Search models
      </label>
      <input id={searchId} type="search" className="picker-search" placeholder="Search models…" value={query} onChange={(e) => setQuery(e.target.value)} />
      <div className="picker-groups">
        {filtered.length === 0 && <p className="muted">No model matches “{query}”.</p>}
        {filtered.map(([provider, models]) => (
          <fieldset key={provider} className="picker-group">
            <legend>{provider}</legend>
            {models.map((m) => {
              const checked = selected.includes(m.id);
              return (
                <label key={m.id} className={`picker-item${checked ? ' checked' : ''}`} title={full && !checked ? `At most ${max} models per request` : m.id}>
                  <input type="checkbox" checked={checked} disabled={full && !checked} onChange={(e) => toggle(m.id, e.target.checked)} data-model={m.id} />
                  <span className="picker-name">{m.name}</span>
                  {m.demo && (
                    <span className="badge demo" title="Built-in demo model: generated text, no upstream provider">
                      demo
                    </span>
                  )}
                </label>
              );
            })}
          </fieldset>
        ))}
      </div>
      {full && <p className="muted small">Maximum reached: unselect a model to pick another.</p>}
    </section>
  );
}
