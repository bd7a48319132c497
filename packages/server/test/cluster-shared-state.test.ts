import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp } from './support/identity.js';
import { pgQuery, prompts } from './support/jobs.js';
import { type ClusterNode, startTestCluster, type TestCluster } from './support/cluster.js';
import { postgresAvailable } from './support/postgres.js';
import { redisAvailable, TEST_REDIS_URL } from './support/redis.js';
import { TEST_IDENTITY } from './support/server.js';

const ready = (await postgresAvailable()) && (await redisAvailable());

const ADMIN = 'admin-token-for-tests-0123456789';
const PUBLISH = 'publish-key-for-tests-0123456789';
const admin = { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' };

/** Three real node processes on one PostgreSQL schema and one Redis prefix: what one node counts, sets or remembers, all do. */
describe.runIf(ready)('shared state across three nodes (Redis + PostgreSQL)', () => {
  let cluster: TestCluster;
  let nodes: ClusterNode[] = [];
  let schema = '';
  let prefix = '';

  beforeAll(async () => {
    cluster = await startTestCluster({
      nodes: 3,
      config: {
        demo: { speed: 100 },
        ops: { adminToken: ADMIN },
        realtime: { publishKey: PUBLISH },
        jobs: { pollMs: 50, progressIntervalMs: 50, leaseMs: 1_500 },
        identity: {
          ...TEST_IDENTITY,
          // One secret for all nodes: a token one signs, the others accept.
          authSecret: 'cluster-auth-secret-for-tests-0123456789',
          limits: { anonymous: { requestsPerMinute: null, responsesPerDay: 12, maxModels: 3, extendedPerDay: 0, tokensPerDay: null } },
        },
      },
    });
    ({ nodes, schema, keyPrefix: prefix } = cluster);
  }, 120_000);
  afterAll(async () => {
    await cluster?.close();
  });

  it('/ready names Redis on every node', async () => {
    for (const n of nodes) expect(await (await fetch(`${n.url}/ready`)).json()).toMatchObject({ status: 'ready', database: 'postgres', redis: 'ok' });
  });

  it('a daily quota hammered in parallel through three nodes admits exactly its limit', async () => {
    const results = await Promise.all(
      Array.from({ length: 45 }, async (_, i) => {
        const res = await fetch(`${nodes[i % 3]!.url}/compare`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ input_data: `q${i}`, models: ['demo/fast'] }),
        });
        return { status: res.status, code: ((await res.json()) as { code?: string }).code };
      }),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(12);
    expect(results.filter((r) => r.status === 429).every((r) => r.code === 'rate_limited')).toBe(true);
    expect(results.filter((r) => r.status === 429)).toHaveLength(33);
    // The one counter lives in Redis…
    const redis = new Redis(TEST_REDIS_URL);
    try {
      const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
      expect(await redis.get(`${prefix}limit:ip:127.0.0.1:responses:d${day}`)).toBe('12');
    } finally {
      redis.disconnect();
    }
    // …and every node reads it.
    for (const n of nodes) {
      expect(await (await fetch(`${n.url}/rate-limit-status`)).json()).toMatchObject({ ip_usage_count: 12, remaining: 0, is_limited: true });
    }
  });

  it('a flag flipped on node 1 is in force on nodes 2 and 3 within a second', async () => {
    const flagOf = async (url: string) => ((await (await fetch(`${url}/v1/flags`)).json()) as { flags: Record<string, boolean> }).flags.sse_streaming;
    for (const n of nodes) expect(await flagOf(n.url)).toBe(true);
    const put = (enabled: boolean) =>
      fetch(`${nodes[0]!.url}/v1/admin/flags/sse_streaming`, { method: 'PUT', headers: admin, body: JSON.stringify({ enabled, rollout: 100 }) });
    try {
      const flipped = Date.now();
      expect((await put(false)).status).toBe(200);
      const seenAfter = await Promise.all(
        nodes.slice(1).map(async (n) => {
          while (await flagOf(n.url)) {
            if (Date.now() - flipped > 5_000) throw new Error('flag change never arrived');
            await new Promise((r) => setTimeout(r, 10));
          }
          return Date.now() - flipped;
        }),
      );
      for (const ms of seenAfter) expect(ms).toBeLessThan(1_000);
      // Enforced, not only listed: the stream route refuses on node 3.
      const stream = await fetch(`${nodes[2]!.url}/chat-stream`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ query: 'hi' }),
      });
      expect([stream.status, ((await stream.json()) as { code: string }).code]).toEqual([403, 'feature_flag_disabled']);
    } finally {
      expect((await put(true)).status).toBe(200);
    }
    for (const n of nodes) await expect.poll(() => flagOf(n.url)).toBe(true);
  });

  it('an idempotency key used on one node answers the first result on the others, even when sent to all at once', async () => {
    const publish = (url: string, data: unknown, key: string) =>
      fetch(`${url}/v1/publish`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${PUBLISH}`, 'Content-Type': 'application/json', 'Idempotency-Key': key },
        body: JSON.stringify({ channel: 'public:orders', data }),
      }).then(async (res) => ({ status: res.status, body: (await res.json()) as { seq?: number; duplicate?: boolean; code?: string } }));

    const all = await Promise.all(nodes.map((n) => publish(n.url, { order: 1 }, 'order-1')));
    expect(all.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(new Set(all.map((r) => r.body.seq)).size).toBe(1);
    expect(all.filter((r) => r.body.duplicate === false)).toHaveLength(1);
    // Later, on another node: still the first answer; a different publish under the key is a conflict.
    const again = await publish(nodes[2]!.url, { order: 1 }, 'order-1');
    expect(again.body).toMatchObject({ seq: all[0]!.body.seq, duplicate: true });
    const conflict = await publish(nodes[1]!.url, { order: 2 }, 'order-1');
    expect([conflict.status, conflict.body.code]).toEqual([409, 'idempotency_conflict']);
  });

  it('a job runs through BullMQ on the shared Redis: each item once across the nodes, and its queues leave Redis once it ended', async () => {
    // Signed in: the job's 12 responses are more than the anonymous quota the hammer test spent.
    const user = await signUp(nodes[0]!.url);
    const created = await fetch(`${nodes[0]!.url}/v1/jobs`, {
      method: 'POST',
      headers: { ...user.auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompts: prompts(6, 'bull'), models: ['demo/fast', 'demo/balanced'] }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const job = await (async () => {
      for (const end = Date.now() + 40_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
        const j = (await (await fetch(`${nodes[1]!.url}/v1/jobs/${id}`, { headers: user.auth })).json()) as { status: string };
        if (['succeeded', 'failed', 'cancelled'].includes(j.status)) return j;
      }
      throw new Error('job never ended');
    })();
    expect(job.status).toBe('succeeded');
    const rows = await pgQuery(schema, 'select status, attempts from job_items where job_id = $1', [id]);
    expect(rows).toHaveLength(12);
    expect(rows.every((r) => r.status === 'succeeded' && r.attempts === 1)).toBe(true);
    const redis = new Redis(TEST_REDIS_URL);
    try {
      await expect.poll(async () => (await redis.keys(`${prefix}bull:*`)).length, { timeout: 20_000, interval: 250 }).toBe(0);
    } finally {
      redis.disconnect();
    }
  }, 60_000);
});
