import { TributaryApiError } from '@tributary/client';
import { useState, type FormEvent } from 'react';
import { loadPublishKey, savePublishKey } from './publish-key';
import { parseData, publishEvent, type PublishResult } from './publish';

type Outcome = { ok: true; result: PublishResult } | { ok: false; code: string; message: string };

/** Publishes a test event with the admin's publish key (TRIBUTARY_PUBLISH_KEY). */
export function PublishPanel({ channel, onChannel }: { channel: string; onChannel(channel: string): void }) {
  const [key, setKey] = useState(loadPublishKey);
  const [type, setType] = useState('message');
  const [data, setData] = useState('{\n  "hello": "world"\n}');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>();

  const changeKey = (value: string) => {
    setKey(value);
    savePublishKey(value);
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseData(data);
    if (!parsed.ok) return setOutcome({ ok: false, code: 'invalid_json', message: parsed.message });
    setBusy(true);
    try {
      setOutcome({ ok: true, result: await publishEvent(key.trim(), { channel: channel.trim(), type: type.trim(), data: parsed.data }) });
    } catch (err) {
      const code = err instanceof TributaryApiError ? err.code : 'network';
      setOutcome({ ok: false, code, message: (err as Error).message });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel" aria-label="Publish">
      <h2>Publish a test event</h2>
      <form className="publish-form" onSubmit={submit}>
        <label>
          Publish key
          <input type="password" value={key} onChange={(e) => changeKey(e.target.value)} placeholder="TRIBUTARY_PUBLISH_KEY" autoComplete="off" />
        </label>
        <span className="muted small">
          Kept in this tab only (sessionStorage); sent as <code>Authorization: Bearer</code>.
        </span>
        <label>
          Channel
          <input value={channel} onChange={(e) => onChannel(e.target.value)} spellCheck={false} autoComplete="off" />
        </label>
        <label>
          Event type
          <input value={type} onChange={(e) => setType(e.target.value)} spellCheck={false} autoComplete="off" />
        </label>
        <label>
          Data (JSON)
          <textarea value={data} onChange={(e) => setData(e.target.value)} rows={5} spellCheck={false} />
        </label>
        <button type="submit" className="primary" disabled={busy || !channel.trim()}>
          Publish
        </button>
      </form>
      {outcome?.ok === true && (
        <p className="ok small" role="status" data-testid="publish-result">
          Published to {outcome.result.channel} at {outcome.result.epoch}:{outcome.result.seq}
          {outcome.result.duplicate ? ' (duplicate)' : ''}
        </p>
      )}
      {outcome?.ok === false && (
        <p className="error small" role="alert" data-testid="publish-error" data-code={outcome.code}>
          <code>{outcome.code}</code>: {outcome.message}
        </p>
      )}
    </section>
  );
}
