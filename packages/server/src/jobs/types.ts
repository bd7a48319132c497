import type { TierName } from '../config/schema.js';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type ItemStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export const TERMINAL_JOB: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled'];

/** The job queue at a glance (metrics, dashboard): jobs by state, and the items waiting and in flight. */
export interface JobQueueStats {
  jobs: Record<JobStatus, number>;
  /** Items waiting to run (retries waiting out their backoff included). */
  queuedItems: number;
  runningItems: number;
}
export const isTerminal = (s: string) => (TERMINAL_JOB as readonly string[]).includes(s);

export interface JobPrompt {
  id?: string | undefined;
  prompt: string;
  system?: string | undefined;
}

export interface JobParams {
  temperature?: number | undefined;
  topP?: number | undefined;
  stop?: string[] | undefined;
  maxOutputTokens?: number | undefined;
}

export interface CreateJob {
  name?: string | undefined;
  prompts: JobPrompt[];
  models: string[];
  tier: TierName;
  concurrency?: number | undefined;
  params?: JobParams | undefined;
  /** Who created it (the request's identity); undefined for an anonymous job. */
  owner?: string | undefined;
}

export interface JobRecord {
  id: string;
  owner: string | null;
  name: string;
  status: JobStatus;
  tier: TierName;
  models: string[];
  params: JobParams | null;
  concurrency: number;
  total: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface ItemError {
  code: string;
  message: string;
  retryable: boolean;
  /** What to do about a failure that retrying will not fix. */
  suggestedAction: string | null;
}

/** What a finished provider call measured (null where it did not get that far). */
export interface ItemMetrics {
  finishReason: string | null;
  inputTokens: number | null;
  outputTokens: number | null;
  ttftMs: number | null;
  durationMs: number | null;
  tokensPerSecond: number | null;
}

export interface JobItem extends ItemMetrics {
  id: string;
  promptIndex: number;
  promptId: string | null;
  model: string;
  status: ItemStatus;
  attempts: number;
  text: string | null;
  error: ItemError | null;
  startedAt: string | null;
  finishedAt: string | null;
}

export type StateCounts = Record<ItemStatus, number>;

export interface Progress {
  completed: number;
  failed: number;
  cancelled: number;
  total: number;
  percent: number;
  etaMs: number | null;
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
  /** USD from the catalogue's price table; null when the model has no price. */
  costUsd: number | null;
}

export interface JobView extends JobRecord {
  counts: StateCounts;
  progress: Progress;
  summary: ModelSummary[];
  streamUrl: string;
}

/** Events of a job's topic `job:<id>`. */
export interface JobEvents {
  'job.progress': Progress & { status: JobStatus };
  'job.item': {
    id: string;
    promptIndex: number;
    model: string;
    status: ItemStatus;
    attempts: number;
    error: ItemError | null;
    ttftMs: number | null;
    durationMs: number | null;
    outputTokens: number | null;
  };
  'job.done': { status: JobStatus; counts: StateCounts; progress: Progress };
}

export function jobTopic(id: string): string {
  return `job:${id}`;
}
