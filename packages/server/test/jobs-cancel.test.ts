import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';
import { mockProviderConfig } from './support/mock-providers.js';
import { dropSchema, postgresAvailable, randomSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { startServer, type TestServer } from './support/server.js';
import { sseRequest } from './support/sse-client.js';
import { allItems, createJob, FAST_JOBS, getJob, prompts, waitForJob } from './support/jobs.js';

const hasPostgres = await postgresAvailable();

const inFlight = (mock: MockUpstream, from: number) =>
  mock.exchanges.slice(from).filter((e) => e && e.finishedAt === undefined && e.socketClosedAt === undefined);

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe.each([{ db: 'sqlite' as const }, { db: 'postgres' as const }])('job cancel and limits against a mock upstream on $db', ({ db }) => {
  let server: TestServer;
  let mock: MockUpstream;
  const schema = randomSchema();
  const skip = () => db === 'postgres' && !hasPostgres;
  beforeAll(async () => {
    if (skip()) return;
    mock = await startMockUpstream('openai');
    server = await startServer({
      // No provider-level retries: the job's own retry is what the second test watches.
      providers: mockProviderConfig('openai', mock, { retry: { maxRetries: 0, baseDelayMs: 10, maxDelayMs: 100 } }),
      jobs: { ...FAST_JOBS, concurrency: 5, providerConcurrency: { mockai: 3 }, retry: { maxAttempts: 2, baseDelayMs: 20, maxDelayMs: 100 } },
      ...(db === 'postgres' ? { database: { url: TEST_DATABASE_URL, schema } } : {}),
    });
  });
  afterAll(async () => {
    await server?.close();
    await mock?.close();
    if (!skip() && db === 'postgres') await dropSchema(schema);
  });

  it('cancel closes every in-flight upstream socket within 1 s, ends cancelled, and starts nothing more', async () => {
    if (skip()) return;
    const from = mock.exchanges.length;
    const created = await createJob(server.url, { prompts: prompts(20, 'cancel'), models: ['mockai/slow'], concurrency: 10 });
    expect(created.status).toBe(201);
    const { id } = created.json;
    // The provider limit (3) binds before the job's (10) and the global one (5).
    await until(() => inFlight(mock, from).length === 3);
    await new Promise((r) => setTimeout(r, 100));
    expect(inFlight(mock, from)).toHaveLength(3);
    const watching = sseRequest(`${server.url}/v1/jobs/${id}/stream`);
    const running = inFlight(mock, from);
    const cancelledAt = performance.now();
    const res = await fetch(`${server.url}/v1/jobs/${id}/cancel`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id, status: 'cancelled' });
    const closes = await Promise.all(running.map(async (e) => (await e.socketClosed) - cancelledAt));
    for (const ms of closes) expect(ms).toBeLessThan(1_000);
    for (const e of running) expect(e.finishedAt).toBeUndefined();
    const stream = await watching;
    expect(stream.messages.at(-1)).toMatchObject({ event: 'job.done', json: { status: 'cancelled' } });

    const requests = mock.exchanges.length;
    await new Promise((r) => setTimeout(r, 300)); // several poll intervals: nothing may start
    expect(mock.exchanges.length).toBe(requests);
    const job = await getJob(server.url, id);
    expect(job.status).toBe('cancelled');
    expect(job.counts).toMatchObject({ queued: 0, running: 0, cancelled: 20 });
    const items = await allItems(server.url, id);
    expect(items.every((i) => i.status === 'cancelled')).toBe(true);
    // Cancelling again, or with DELETE, is a no-op that reports the state.
    const again = await fetch(`${server.url}/v1/jobs/${id}`, { method: 'DELETE' });
    expect(await again.json()).toEqual({ id, status: 'cancelled' });

    // Retry with ?include=cancelled puts them back; cancel that run at once.
    const retry = await fetch(`${server.url}/v1/jobs/${id}/retry?include=cancelled`, { method: 'POST' });
    expect(await retry.json()).toMatchObject({ retried: 20 });
    await fetch(`${server.url}/v1/jobs/${id}`, { method: 'DELETE' });
    expect((await waitForJob(server.url, id)).status).toBe('cancelled');
    // Calls the retried run started before the cancel may reach the mock a moment after it (they
    // are closed at once): count from when they are in; what starts later is the failure.
    await new Promise((r) => setTimeout(r, 100));
    await until(() => inFlight(mock, from).length === 0);
    const afterSecondCancel = mock.exchanges.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(mock.exchanges.length).toBe(afterSecondCancel);
    expect(inFlight(mock, from)).toHaveLength(0);
  });

  it('a non-retryable upstream failure is not retried and carries a suggested action', async () => {
    if (skip()) return;
    const from = mock.count('e404');
    const created = await createJob(server.url, { prompts: prompts(2, 'err'), models: ['mockai/e404', 'mockai/ok'] });
    const job = await waitForJob(server.url, created.json.id);
    expect(job.status).toBe('failed');
    const items = await allItems(server.url, created.json.id, '&status=failed');
    expect(items).toHaveLength(2);
    for (const item of items) {
      expect(item.model).toBe('mockai/e404');
      expect(item.error).toMatchObject({ code: 'invalid_model', retryable: false });
      expect(item.error.suggestedAction).toContain('model');
    }
    expect(mock.count('e404') - from).toBe(2); // not retried
  });

  it('a retryable upstream failure (HTTP 429, Retry-After: 0) is retried by the job and then succeeds', async () => {
    if (skip()) return;
    const created = await createJob(server.url, { prompts: ['only one'], models: ['mockai/e429-once'] });
    const job = await waitForJob(server.url, created.json.id);
    expect(job.status).toBe('succeeded');
    const [item] = await allItems(server.url, created.json.id);
    expect(item).toMatchObject({ status: 'succeeded', attempts: 2, error: null });
    expect(mock.count('e429-once')).toBe(2);
  });
});
