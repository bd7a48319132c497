import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ItemOutcome } from '../src/jobs/job-queue.js';
import { JobStore } from '../src/jobs/job-store.js';
import { SqliteJobQueue } from '../src/jobs/sqlite-job-thread.js';
import { jobsDb, type JobsDb } from '../src/jobs/tables.js';
import type { KyselyStore } from '../src/store/kysely-store.js';
import { openStore } from '../src/store/open-store.js';

const JOB = 'job_thread_test';
const LEASE_MS = 30_000;

const succeeded = (id: string, text: string): ItemOutcome => ({
  id,
  status: 'succeeded',
  text,
  finishReason: 'stop',
  inputTokens: 3,
  outputTokens: 2,
  ttftMs: 1,
  durationMs: 2,
  tokensPerSecond: 1000,
  errorCode: null,
  errorMessage: null,
  retryable: null,
  suggestedAction: null,
});

/** The embedded queue's claims and results on their own thread (and connection). */
describe('SqliteJobQueue', () => {
  let dataDir: string;
  let store: KyselyStore;
  let db: JobsDb;
  let queue: SqliteJobQueue;

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'tributary-job-thread-'));
    store = await openStore({ dataDir, flushIntervalMs: 50, batchSize: 100 });
    db = jobsDb(store.db);
    queue = new SqliteJobQueue(db, store.sqlite!);
    await new JobStore(db, 'sqlite').insert(
      {
        id: JOB,
        owner: null,
        name: 'thread',
        status: 'running',
        tier: 'standard',
        models: ['m'],
        params: null,
        concurrency: 4,
        total: 4,
        createdAt: new Date().toISOString(),
        startedAt: null,
        finishedAt: null,
      },
      [{ prompt: 'one' }, { prompt: 'two', system: 'be brief' }, { prompt: 'three' }, { prompt: 'four' }],
    );
  });

  afterEach(async () => {
    await queue.close();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('claims with the prompts, and writes only the results whose lease it still holds', async () => {
    const items = await queue.claim(JOB, 'm', 'w1', 2, LEASE_MS);
    expect(items.map((i) => [i.promptIndex, i.attempts, i.prompt])).toEqual([
      [0, 1, { prompt: 'one', system: null }],
      [1, 1, { prompt: 'two', system: 'be brief' }],
    ]);
    // The main connection sees the claim at once: it was committed before claim() resolved.
    expect((await queue.counts(JOB)).running).toBe(2);

    const [first, second] = items as [(typeof items)[0], (typeof items)[0]];
    await queue.release('w1', [second.id]); // no longer ours: not written
    const written = await queue.complete('w1', [succeeded(first.id, 'uno'), succeeded(second.id, 'dos')]);
    expect([...written]).toEqual([first.id]);
    const rows = await db.selectFrom('job_items').select(['id', 'status', 'text', 'worker', 'finished_at']).orderBy('id').execute();
    expect(rows[0]).toMatchObject({ status: 'succeeded', text: 'uno', worker: null });
    expect(rows[0]!.finished_at).toBeGreaterThan(0);
    expect(rows[1]).toMatchObject({ status: 'queued', text: null });
    // Written once: a second commit of the same outcome finds no lease.
    expect((await queue.complete('w1', [succeeded(first.id, 'again')])).size).toBe(0);
  });

  it('does not make a main-connection transaction that reads, then writes, fail while the thread commits', async () => {
    await queue.claim(JOB, 'm', 'w1', 1, LEASE_MS); // the thread is up
    let claimed: Promise<unknown> | undefined;
    await db.transaction().execute(async (trx) => {
      await trx.selectFrom('job_items').select('id').where('job_id', '=', JOB).execute();
      // The thread claims meanwhile: it must wait for this transaction, not commit under its read.
      claimed = queue.claim(JOB, 'm', 'w2', 1, LEASE_MS);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await trx.updateTable('jobs').set({ name: 'renamed' }).where('id', '=', JOB).execute();
    });
    expect(await claimed).toHaveLength(1);
    expect((await queue.counts(JOB)).running).toBe(2);
  });
});
