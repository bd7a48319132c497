import { TributaryApiError, type ModelInfo } from '@tributary/client';
import { useState, type FormEvent } from 'react';
import { createFromPrompts, uploadJobFile, type Created } from './jobs-api';

type Source = 'paste' | 'file';

/** Create a job: pasted prompts (one per line) or an uploaded JSONL/CSV file, with upload progress. */
export function CreateJobPanel({ models, onCreated }: { models: ModelInfo[]; onCreated(job: Created): void }) {
  const [name, setName] = useState('');
  const [picked, setPicked] = useState<string[]>(() =>
    models
      .filter((m) => m.demo)
      .slice(0, 2)
      .map((m) => m.id),
  );
  const [tier, setTier] = useState('standard');
  const [source, setSource] = useState<Source>('paste');
  const [text, setText] = useState('');
  const [file, setFile] = useState<File>();
  const [upload, setUpload] = useState<number>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ code: string; message: string }>();

  const toggle = (id: string) => setPicked((p) => (p.includes(id) ? p.filter((x) => x !== id) : [...p, id]));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setBusy(true);
    const fields = { name: name.trim(), models: picked, tier };
    try {
      let created: Created;
      if (source === 'file') {
        if (!file) throw new TributaryApiError(400, 'missing_file', 'Choose a .jsonl or .csv file first.', undefined);
        setUpload(0);
        created = await uploadJobFile(fields, file, setUpload);
      } else {
        const prompts = text
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean);
        created = await createFromPrompts(fields, prompts);
        setText('');
      }
      onCreated(created);
    } catch (err) {
      setError({ code: err instanceof TributaryApiError ? err.code : 'network', message: (err as Error).message });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel" aria-label="New job">
      <h2>New job</h2>
      <form className="job-form" onSubmit={submit}>
        <label>
          Name <input value={name} onChange={(e) => setName(e.target.value)} placeholder="optional" maxLength={200} />
        </label>
        <fieldset className="job-models">
          <legend>Models</legend>
          {models.map((m) => (
            <label key={m.id} className="check">
              <input type="checkbox" checked={picked.includes(m.id)} onChange={() => toggle(m.id)} /> {m.name}
              {m.demo ? ' (demo)' : ''}
            </label>
          ))}
        </fieldset>
        <label>
          Tier
          <select value={tier} onChange={(e) => setTier(e.target.value)}>
            <option value="brief">brief</option>
            <option value="standard">standard</option>
            <option value="extended">extended</option>
          </select>
        </label>
        <div className="segmented" role="radiogroup" aria-label="Prompts from">
          <label>
            <input type="radio" name="source" checked={source === 'paste'} onChange={() => setSource('paste')} /> Paste
          </label>
          <label>
            <input type="radio" name="source" checked={source === 'file'} onChange={() => setSource('file')} /> Upload file
          </label>
        </div>
        {source === 'paste' ? (
          <label>
            Prompts, one per line
            <textarea rows={6} value={text} onChange={(e) => setText(e.target.value)} placeholder={'Summarise the water cycle.\nName three rivers in Asia.'} />
          </label>
        ) : (
          <label>
            File (.jsonl with a "prompt" per line, or .csv with a prompt column)
            <input
              type="file"
              accept=".jsonl,.ndjson,.csv,text/csv,application/jsonl"
              data-testid="job-file"
              onChange={(e) => {
                setFile(e.target.files?.[0]);
                setUpload(undefined);
              }}
            />
          </label>
        )}
        {source === 'file' && upload !== undefined && (
          <label className="upload-progress">
            Upload
            <progress max={100} value={Math.round(upload * 100)} data-testid="upload-progress" /> {Math.round(upload * 100)} %
          </label>
        )}
        <button type="submit" className="primary" disabled={busy || picked.length === 0}>
          {busy ? 'Creating…' : 'Create job'}
        </button>
        {error && (
          <p className="error" role="alert" data-testid="job-error">
            <code>{error.code}</code> {error.message}
          </p>
        )}
      </form>
    </section>
  );
}
