import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { configFile, startChild, type ChildServer } from './support/child-server.js';
import { createJob, pgQuery, prompts, waitForJob } from './support/jobs.js';
import { dropSchema, postgresAvailable, randomSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { dropPrefix, randomPrefix, redisAvailable, TEST_REDIS_URL } from './support/redis.js';
import { TEST_IDENTITY } from './support/server.js';

const ready = (await postgresAvailable()) && (await redisAvailable());

interface Row {
  id: string;
  status: string;
  attempts: number;
  worker: string | null;
  text: string | null;
  finished_at: string | null;
}

/** On a timeout, what the rows and the nodes' stderr said. */
let debug: (() => Promise<string>) | undefined;
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${String(await debug?.())}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Real node processes sharing PostgreSQL and Redis; items dispatched through BullMQ. */
describe.runIf(ready)('a job on three nodes through BullMQ, one node SIGKILLed mid-run', () => {
  const schema = randomSchema();
  const prefix = randomPrefix();
  const nodes: ChildServer[] = [];
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    await dropSchema(schema);
    await dropPrefix(prefix);
  });

  it("the survivors finish it: every item exactly once, the dead node's in-flight items run once more (checked in SQL)", async () => {
    const config = configFile({
      web: { enabled: false },
      database: { url: TEST_DATABASE_URL, schema },
      redis: { url: TEST_REDIS_URL, keyPrefix: prefix },
      demo: { speed: 2 },
      // Leases long enough that a loaded machine never lets a live node's lapse (which would run an item twice).
      jobs: { pollMs: 50, progressIntervalMs: 50, leaseMs: 3_000, claimBatch: 4 },
      identity: TEST_IDENTITY,
    });
    const rows = () =>
      pgQuery(schema, 'select id::text as id, status, attempts, worker, text, finished_at::text as finished_at from job_items order by id') as Promise<Row[]>;

    debug = async () => JSON.stringify((await rows()).map((r) => [r.status, r.worker, r.attempts])) + nodes.map((n) => n.stderr()).join('\n');
    // Node 1 alone first, so the worker holding the first running items is known to be its.
    nodes.push(await startChild(['--config', config]));
    const created = await createJob(nodes[0]!.url, { prompts: prompts(40, 'bull'), models: ['demo/fast', 'demo/balanced'], concurrency: 4 });
    expect(created.status).toBe(201);
    const { id } = created.json;
    const first = await until('node 1 to run items', async () => (await rows()).find((r) => r.status === 'running')?.worker ?? undefined);
    nodes.push(...(await Promise.all([startChild(['--config', config]), startChild(['--config', config])])));
    // All three at work on the job, then node 1 dies.
    await until('three nodes running items', async () => {
      const workers = new Set((await rows()).filter((r) => r.status === 'running').map((r) => r.worker));
      return workers.size === 3 && workers.has(first) ? true : undefined;
    });
    await nodes[0]!.kill();
    const atKill = await rows();
    const orphans = atKill.filter((r) => r.status === 'running' && r.worker === first);
    const doneBefore = atKill.filter((r) => r.status === 'succeeded');
    expect(orphans.length).toBeGreaterThan(0);
    expect(doneBefore.length).toBeLessThan(80);

    const job = await waitForJob(nodes[1]!.url, id, 90_000).catch(async (err: Error) => {
      throw new Error(`${err.message}; ${await debug!()}`);
    });
    expect(job).toMatchObject({ status: 'succeeded', counts: { succeeded: 80, failed: 0, running: 0, queued: 0 } });
    const end = await rows();
    expect(end).toHaveLength(80);
    expect(end.every((r) => r.status === 'succeeded' && r.text && r.worker === null)).toBe(true);
    const byId = new Map(end.map((r) => [r.id, r]));
    // Re-queued once: each item the dead node held ran exactly once more.
    for (const r of orphans) expect(byId.get(r.id)!.attempts).toBe(2);
    // Nothing else ran twice; nothing finished before the kill was touched again.
    const orphanIds = new Set(orphans.map((r) => r.id));
    expect(end.filter((r) => !orphanIds.has(r.id)).every((r) => r.attempts === 1)).toBe(true);
    for (const r of doneBefore) expect(byId.get(r.id)!.finished_at).toBe(r.finished_at);
    // BullMQ's stalled-job check put them back (a `stalled` event each on the lanes' event streams), not a lease sweep.
    // A claim in progress at the kill also holds jobs in BullMQ that the database does not show as running yet:
    // those stall too, and run once (attempts 1, checked above).
    const redis = new Redis(TEST_REDIS_URL);
    try {
      const streams = await redis.keys(`${prefix}bull:*:events`);
      let stalled = 0;
      for (const key of streams) {
        for (const [, fields] of await redis.xrange(key, '-', '+')) if (fields[0] === 'event' && fields[1] === 'stalled') stalled++;
      }
      expect(stalled).toBeGreaterThanOrEqual(orphans.length);
    } finally {
      redis.disconnect();
    }
    // The survivors read the same counts from the database.
    const other = await (await fetch(`${nodes[2]!.url}/v1/jobs/${id}`)).json();
    expect(other.counts.succeeded).toBe(80);
  }, 180_000); // CI runs every file at once on 2 cores: three node processes start slowly there
});
