import pg from 'pg';
import type { ConfigInput } from '../../src/config/schema.js';
import { TEST_DATABASE_URL } from './postgres.js';

/** Fast settings for job tests: quick polls and progress, one attempt unless a test says otherwise. */
export const FAST_JOBS: NonNullable<ConfigInput['jobs']> = {
  pollMs: 50,
  progressIntervalMs: 10,
  leaseMs: 1_500,
  retry: { maxAttempts: 1, baseDelayMs: 10, maxDelayMs: 50 },
};

export async function json(res: Response): Promise<any> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function createJob(url: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: await json(res) };
}

export async function getJob(url: string, id: string): Promise<any> {
  return json(await fetch(`${url}/v1/jobs/${id}`));
}

/** Polls the job until it is in a final state. */
export async function waitForJob(url: string, id: string, timeoutMs = 20_000): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const job = await getJob(url, id);
    if (['succeeded', 'failed', 'cancelled'].includes(job.status)) return job;
    if (Date.now() > until) throw new Error(`job ${id} still ${job.status}: ${JSON.stringify(job.counts)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function allItems(url: string, id: string, query = ''): Promise<any[]> {
  const out: any[] = [];
  let cursor: string | null = null;
  do {
    const res: any = await json(await fetch(`${url}/v1/jobs/${id}/items?limit=40${query}${cursor ? `&cursor=${cursor}` : ''}`));
    out.push(...res.items);
    cursor = res.nextCursor;
  } while (cursor);
  return out;
}

/** Runs SQL against the test PostgreSQL in a schema. */
export async function pgQuery(schema: string, text: string, values: unknown[] = []): Promise<any[]> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schema}` });
  await client.connect();
  try {
    return (await client.query(text, values)).rows;
  } finally {
    await client.end();
  }
}

export const prompts = (n: number, tag = 'p') => Array.from({ length: n }, (_, i) => `${tag} ${i}: describe river number ${i} in one line.`);
