import type { Counts, JobStatus, Progress } from './jobs-api';

export interface JobLive {
  status: JobStatus;
  progress: Progress;
}

/**
 * Follows a job's progress topic over SSE. EventSource reconnects by itself with
 * Last-Event-ID; a `recovered:false` answer carries the state to start again from.
 * Closes after `job.done`. Returns the stop function.
 */
export function followJob(id: string, on: { update(live: JobLive): void; item?(): void; done?(live: JobLive): void }): () => void {
  const source = new EventSource(`/v1/jobs/${encodeURIComponent(id)}/stream`);
  const fromView = (view: { status: JobStatus; progress: Progress }) => on.update({ status: view.status, progress: view.progress });
  source.addEventListener('job.snapshot', (e) => fromView(JSON.parse((e as MessageEvent).data)));
  source.addEventListener('recovery', (e) => {
    const data = JSON.parse((e as MessageEvent).data);
    if (data.snapshot) fromView(data.snapshot);
  });
  source.addEventListener('job.progress', (e) => {
    const p = JSON.parse((e as MessageEvent).data) as Progress & { status: JobStatus };
    on.update({ status: p.status, progress: p });
  });
  source.addEventListener('job.item', () => on.item?.());
  source.addEventListener('job.done', (e) => {
    const d = JSON.parse((e as MessageEvent).data) as { status: JobStatus; counts: Counts; progress: Progress };
    const live = { status: d.status, progress: d.progress };
    on.update(live);
    on.done?.(live);
    source.close();
  });
  return () => source.close();
}
