import { TributaryApiError } from '@tributary/client';

/** The shapes of /v1/jobs the page reads (see docs/jobs.md). */
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type Counts = Record<JobStatus, number>;

export interface Progress {
  completed: number;
  failed: number;
  cancelled: number;
  total: number;
  percent: number;
  etaMs: number | null;
}

export interface JobListEntry {
  id: string;
  name: string;
  status: JobStatus;
  models: string[];
  total: number;
  createdAt: string;
  counts: Counts;
  progress: Progress;
}

export interface ModelSummary {
  model: string;
  finished: number;
  succeeded: number;
  failed: number;
  successRate: number | null;
  meanTtftMs: number | null;
  p95TtftMs: number | null;
  tokensPerSecond: number | null;
  inputTokens: number;
  outputTokens: number;
  costUsd: number | null;
}

export interface JobView extends JobListEntry {
  tier: string;
  summary: ModelSummary[];
  streamUrl: string;
}

export interface JobItem {
  id: string;
  promptIndex: number;
  model: string;
  status: JobStatus;
  attempts: number;
  prompt: string;
  text: string | null;
  error: { code: string; message: string; retryable: boolean; suggestedAction: string | null } | null;
  ttftMs: number | null;
  durationMs: number | null;
  outputTokens: number | null;
}

export interface Created {
  id: string;
  status: JobStatus;
  total: number;
  streamUrl: string;
}

export const isFinal = (s: JobStatus) => s === 'succeeded' || s === 'failed' || s === 'cancelled';

async function call<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(path, init);
  const body: any = await res.json().catch(() => undefined);
  if (!res.ok) throw new TributaryApiError(res.status, body?.code ?? 'http_error', body?.message ?? `HTTP ${res.status}`, body);
  return body as T;
}

export const listJobs = () => call<{ jobs: JobListEntry[] }>('/v1/jobs?limit=50').then((r) => r.jobs);
export const getJob = (id: string) => call<JobView>(`/v1/jobs/${id}`);
export const cancelJob = (id: string) => call<{ status: JobStatus }>(`/v1/jobs/${id}/cancel`, { method: 'POST' });
export const retryJob = (id: string, includeCancelled: boolean) =>
  call<{ retried: number }>(`/v1/jobs/${id}/retry${includeCancelled ? '?include=cancelled' : ''}`, { method: 'POST' });
export const resultsUrl = (id: string, format: 'csv' | 'jsonl') => `/v1/jobs/${id}/results?format=${format}`;

/** The first page of a job's items (the grid shows at most this many; the export has them all). */
export const firstItems = (id: string, limit = 1_000) => call<{ items: JobItem[]; nextCursor: string | null }>(`/v1/jobs/${id}/items?limit=${limit}`);

export interface JobFields {
  name: string;
  models: string[];
  tier: string;
}

export const createFromPrompts = (fields: JobFields, prompts: string[]) =>
  call<Created>('/v1/jobs', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...(fields.name ? { name: fields.name } : {}), prompts, models: fields.models, tier: fields.tier }),
  });

/** Uploads a JSONL or CSV file; XMLHttpRequest because fetch reports no upload progress. */
export function uploadJobFile(fields: JobFields, file: File, onProgress: (fraction: number) => void): Promise<Created> {
  const form = new FormData();
  if (fields.name) form.append('name', fields.name);
  form.append('models', fields.models.join(','));
  form.append('tier', fields.tier);
  form.append('file', file, file.name);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/jobs');
    xhr.responseType = 'json';
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      const body = xhr.response as any;
      if (xhr.status === 201) {
        onProgress(1);
        resolve(body as Created);
      } else reject(new TributaryApiError(xhr.status, body?.code ?? 'http_error', body?.message ?? `HTTP ${xhr.status}`, body));
    };
    xhr.onerror = () => reject(new TributaryApiError(0, 'network', 'The upload failed: the server could not be reached.', undefined));
    xhr.send(form);
  });
}
