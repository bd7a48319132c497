import { TributaryApiError } from '@tributary/client';
import { useEffect, useState } from 'react';
import type { JobLive } from './job-follow';
import { cancelJob, firstItems, getJob, isFinal, resultsUrl, retryJob, type JobItem, type JobView } from './jobs-api';

const ms = (v: number | null) => (v === null ? '–' : `${v} ms`);

/** One job: progress, per-model summary, cancel / retry / export, and the prompt × model results grid. */
export function JobDetail({ id, live, onChanged }: { id: string; live: JobLive | undefined; onChanged(): void }) {
  const [job, setJob] = useState<JobView>();
  const [items, setItems] = useState<JobItem[]>([]);
  const [more, setMore] = useState(false);
  const [open, setOpen] = useState<JobItem>();
  const [error, setError] = useState<string>();
  const status = live?.status ?? job?.status;
  const percent = live?.progress.percent ?? job?.progress.percent ?? 0;

  // Reloads when the live status changes (started, finished) and once a second while it runs.
  useEffect(() => {
    let stop = false;
    const load = () =>
      Promise.all([getJob(id), firstItems(id)]).then(
        ([j, page]) => {
          if (stop) return;
          setJob(j);
          setItems(page.items);
          setMore(page.nextCursor !== null);
        },
        (err: Error) => setError(err.message),
      );
    void load();
    const timer = status && !isFinal(status) ? setInterval(load, 1_000) : undefined;
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, [id, status]);

  const act = async (action: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await action();
      onChanged();
    } catch (err) {
      setError(err instanceof TributaryApiError ? `${err.code}: ${err.message}` : (err as Error).message);
    }
  };

  if (!job) return <p className="muted">{error ?? 'Loading the job…'}</p>;
  const prompts = [...new Map(items.map((i) => [i.promptIndex, i.prompt])).entries()].sort((a, b) => a[0] - b[0]);
  const cell = new Map(items.map((i) => [`${i.promptIndex}/${i.model}`, i]));
  const final = status ? isFinal(status) : false;

  return (
    <section className="panel job-detail" aria-label="Job detail">
      <header className="job-detail-head">
        <h2>{job.name}</h2>
        <span className={`job-status status-${status}`} data-testid="detail-status">
          {status}
        </span>
        <progress max={100} value={percent} aria-label="Job progress" /> <span data-testid="detail-percent">{percent} %</span>
        {live?.progress.etaMs ? <span className="muted small">ETA {Math.ceil(live.progress.etaMs / 1000)} s</span> : null}
        <span className="actions">
          <button type="button" disabled={final} onClick={() => act(() => cancelJob(id))}>
            Cancel
          </button>
          <button
            type="button"
            disabled={!final || (job.counts.failed === 0 && job.counts.cancelled === 0)}
            onClick={() => act(() => retryJob(id, job.counts.cancelled > 0))}
          >
            Retry failed
          </button>
          <a className="button" href={resultsUrl(id, 'csv')} download={`${id}.csv`}>
            Export CSV
          </a>
          <a className="button" href={resultsUrl(id, 'jsonl')} download={`${id}.jsonl`}>
            Export JSONL
          </a>
        </span>
      </header>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <p className="muted small">
        {job.total} items · succeeded {job.counts.succeeded} · failed {job.counts.failed} · cancelled {job.counts.cancelled} · queued {job.counts.queued} ·
        running {job.counts.running}
      </p>

      <table className="job-summary" aria-label="Per-model summary">
        <thead>
          <tr>
            <th>Model</th>
            <th>Success</th>
            <th>Mean TTFT</th>
            <th>p95 TTFT</th>
            <th>Tokens/s</th>
            <th>Cost</th>
          </tr>
        </thead>
        <tbody>
          {job.summary.map((s) => (
            <tr key={s.model}>
              <td>{s.model}</td>
              <td>{s.successRate === null ? '–' : `${Math.round(s.successRate * 100)} % (${s.succeeded}/${s.finished})`}</td>
              <td>{ms(s.meanTtftMs)}</td>
              <td>{ms(s.p95TtftMs)}</td>
              <td>{s.tokensPerSecond ?? '–'}</td>
              <td>{s.costUsd === null ? '–' : `$${s.costUsd.toFixed(4)}`}</td>
            </tr>
          ))}
        </tbody>
      </table>

      {more && (
        <p className="muted small">
          The grid shows the first {items.length} items; the export has all {job.total}.
        </p>
      )}
      <div className="results-wrap">
        <table className="results-grid" aria-label="Results">
          <thead>
            <tr>
              <th>#</th>
              <th>Prompt</th>
              {job.models.map((m) => (
                <th key={m}>{m}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {prompts.map(([index, prompt]) => (
              <tr key={index}>
                <td>{index + 1}</td>
                <td className="prompt-cell" title={prompt}>
                  {prompt}
                </td>
                {job.models.map((m) => {
                  const item = cell.get(`${index}/${m}`);
                  return (
                    <td key={m}>
                      {item && (
                        <button type="button" className={`result-cell status-${item.status}`} data-testid="result-cell" onClick={() => setOpen(item)}>
                          {item.status === 'succeeded' ? (item.text ?? '').slice(0, 60) : (item.error?.code ?? item.status)}
                        </button>
                      )}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      {open && (
        <section className="result-text" aria-label="Result text" data-testid="result-text">
          <header>
            <strong>{open.model}</strong> · prompt {open.promptIndex + 1} · {open.status} · TTFT {ms(open.ttftMs)} · {ms(open.durationMs)} · attempts{' '}
            {open.attempts}
            <button type="button" onClick={() => setOpen(undefined)} aria-label="Close result">
              ×
            </button>
          </header>
          <p className="muted small">{open.prompt}</p>
          {open.error && (
            <p className="error">
              {open.error.code}: {open.error.message}
              {open.error.suggestedAction ? ` — ${open.error.suggestedAction}` : ''}
            </p>
          )}
          <pre>{open.text}</pre>
        </section>
      )}
    </section>
  );
}
