import type { Generated, Kysely } from 'kysely';
import type { Database } from '../store/database.js';

/** The job tables (migration `0004_jobs`); times are ms since the Unix epoch. */
export interface JobsTable {
  id: string;
  owner: string | null;
  name: string;
  status: string;
  tier: string;
  /** JSON array of model ids. */
  models: string;
  /** JSON object of sampling params, or null. */
  params: string | null;
  concurrency: number;
  total: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface JobPromptsTable {
  job_id: string;
  prompt_index: number;
  prompt_id: string | null;
  prompt: string;
  system: string | null;
}

export interface JobItemsTable {
  id: Generated<number | string>;
  job_id: string;
  prompt_index: number;
  model: string;
  status: string;
  attempts: Generated<number>;
  worker: string | null;
  lease_until: number | null;
  not_before: Generated<number>;
  text: string | null;
  error_code: string | null;
  error_message: string | null;
  /** 1/0: whether the last error was retryable. */
  retryable: number | null;
  suggested_action: string | null;
  finish_reason: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  ttft_ms: number | null;
  duration_ms: number | null;
  tokens_per_second: number | null;
  started_at: number | null;
  finished_at: number | null;
}

export type JobTables = {
  jobs: JobsTable;
  job_prompts: JobPromptsTable;
  job_items: JobItemsTable;
};

export type JobsDb = Kysely<Database & JobTables>;

/** The store's Kysely instance seen with the job tables. */
export function jobsDb(db: Kysely<Database>): JobsDb {
  return db.withTables<JobTables>();
}
