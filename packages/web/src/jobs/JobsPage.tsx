import { TributaryClient, type ModelInfo } from '@tributary/client';
import { useCallback, useEffect, useState } from 'react';
import { NavTabs } from '../components/NavTabs';
import { CreateJobPanel } from './CreateJobPanel';
import { JobDetail } from './JobDetail';
import { followJob, type JobLive } from './job-follow';
import { isFinal, listJobs, type JobListEntry } from './jobs-api';

const client = new TributaryClient();

/** The jobs page: create a job, watch every job's progress live, open one for its results. */
export function JobsPage() {
  const [models, setModels] = useState<ModelInfo[]>();
  const [jobs, setJobs] = useState<JobListEntry[]>([]);
  const [live, setLive] = useState<Record<string, JobLive>>({});
  const [selected, setSelected] = useState<string>();
  const [error, setError] = useState<string>();

  const reload = useCallback(() => listJobs().then(setJobs, (err: Error) => setError(err.message)), []);
  useEffect(() => {
    client.models().then(
      (m) => setModels(m.models),
      (err: Error) => setError(`Cannot reach the server: ${err.message}`),
    );
    void reload();
  }, [reload]);

  // One progress stream per unfinished job in the list.
  const following = jobs
    .filter((j) => !isFinal(live[j.id]?.status ?? j.status))
    .map((j) => j.id)
    .join(',');
  useEffect(() => {
    if (!following) return;
    const stops = following.split(',').map((id) => followJob(id, { update: (l) => setLive((all) => ({ ...all, [id]: l })) }));
    return () => stops.forEach((stop) => stop());
  }, [following]);

  return (
    <div className="app jobs-page">
      <header className="topbar">
        <h1>
          <span className="logo" aria-hidden="true">
            ≋
          </span>{' '}
          Tributary
        </h1>
        <NavTabs current="jobs" />
      </header>
      <div className="console-layout">
        <div className="console-side">
          {models ? (
            <CreateJobPanel
              models={models}
              onCreated={(c) => {
                setSelected(c.id);
                void reload();
              }}
            />
          ) : (
            <p className="muted">Loading models…</p>
          )}
          <section className="panel" aria-label="Jobs">
            <h2>Jobs</h2>
            {error && (
              <p className="error" role="alert">
                {error}
              </p>
            )}
            {jobs.length === 0 && <p className="muted">No jobs yet.</p>}
            <ul className="job-list">
              {jobs.map((j) => {
                const l = live[j.id];
                const status = l?.status ?? j.status;
                const percent = l?.progress.percent ?? j.progress.percent;
                return (
                  <li key={j.id} data-job={j.id} className={j.id === selected ? 'selected' : undefined}>
                    <button type="button" className="job-row" onClick={() => setSelected(j.id)} aria-current={j.id === selected ? 'true' : undefined}>
                      <span className="job-name">{j.name}</span>
                      <span className={`job-status status-${status}`} data-testid="job-status">
                        {status}
                      </span>
                      <progress max={100} value={percent} aria-label={`${j.name} progress`} />
                      <span className="job-percent" data-testid="job-percent">
                        {percent} %
                      </span>
                    </button>
                  </li>
                );
              })}
            </ul>
          </section>
        </div>
        <main className="console-main">
          {selected ? (
            <JobDetail key={selected} id={selected} live={live[selected]} onChanged={() => void reload()} />
          ) : (
            <div className="empty">
              <h2>Batch jobs</h2>
              <p className="muted">Run a set of prompts against several models in the background; progress streams live and results can be exported.</p>
            </div>
          )}
        </main>
      </div>
    </div>
  );
}
