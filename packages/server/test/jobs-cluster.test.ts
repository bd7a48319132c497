import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchema, postgresAvailable, randomSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { startServer, type TestServer } from './support/server.js';
import { allItems, createJob, FAST_JOBS, pgQuery, prompts, waitForJob } from './support/jobs.js';

const hasPostgres = await postgresAvailable();

/** Two servers on one PostgreSQL schema share a job through the leases: every item runs once. */
describe.runIf(hasPostgres)('two nodes on one PostgreSQL database', () => {
  const schema = randomSchema();
  const servers: TestServer[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      servers.push(
        await startServer({
          jobs: { ...FAST_JOBS, claimBatch: 4, perJobConcurrency: 4 },
          demo: { speed: 100 },
          database: { url: TEST_DATABASE_URL, schema },
        }),
      );
    }
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await dropSchema(schema);
  });

  it('both nodes claim items of the same job (FOR UPDATE SKIP LOCKED); each item runs exactly once', async () => {
    const [a, b] = servers as [TestServer, TestServer];
    const created = await createJob(a.url, { prompts: prompts(40, 'cluster'), models: ['demo/fast', 'demo/balanced'] });
    const job = await waitForJob(b.url, created.json.id);
    expect(job.status).toBe('succeeded');
    const rows = await pgQuery(schema, 'select attempts, status from job_items where job_id = $1', [created.json.id]);
    expect(rows).toHaveLength(80);
    expect(rows.every((r) => r.status === 'succeeded' && r.attempts === 1)).toBe(true);
    expect(await allItems(a.url, created.json.id)).toHaveLength(80);
    // Each node publishes the items it ran to its own (memory) log; together they are all of them.
    const topic = `job:${created.json.id}`;
    const ran = await Promise.all(
      servers.map(async (s) => {
        const r = await s.app.ctx.hub.recover(topic, { from: 'start' });
        return r.recovered ? r.events.filter((e) => e.type === 'job.item').length : 0;
      }),
    );
    expect(ran[0]! + ran[1]!).toBe(80);
    expect(ran[0]).toBeGreaterThan(0);
    expect(ran[1]).toBeGreaterThan(0);
  });
});
