import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchema, postgresAvailable, randomSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { PrivateRedis } from './support/private-redis.js';
import { startServer, type TestServer } from './support/server.js';

const hasPostgres = await postgresAvailable();

const ADMIN = 'admin-token-for-tests-0123456789';
const PUBLISH = 'publish-key-for-tests-0123456789';

async function poll<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Two nodes on a Redis of their own that is killed and started again underneath them. */
describe.runIf(hasPostgres)('Redis unavailable, then back', () => {
  const schema = randomSchema();
  let redis: PrivateRedis;
  const nodes: TestServer[] = [];

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    const config = {
      database: { url: TEST_DATABASE_URL, schema },
      redis: { url: redis.url, keyPrefix: 'outage:' },
      demo: { speed: 100 },
      ops: { adminToken: ADMIN },
      realtime: { publishKey: PUBLISH },
      durability: { retryAfterSeconds: 2 },
      identity: {
        scrypt: { cost: 1024 },
        limits: { anonymous: { requestsPerMinute: null, responsesPerDay: 100, maxModels: 3, extendedPerDay: 0, tokensPerDay: null } },
      },
    };
    for (let i = 0; i < 2; i++) nodes.push(await startServer(config));
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await redis?.stop();
    await dropSchema(schema);
  });

  const compare = (url: string) =>
    fetch(`${url}/compare`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ input_data: 'hi', models: ['demo/fast'] }),
    });
  const publish = (url: string, key: string) =>
    fetch(`${url}/v1/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${PUBLISH}`, 'Content-Type': 'application/json', 'Idempotency-Key': key },
      body: JSON.stringify({ channel: 'public:outage', data: { key } }),
    });
  const flagOf = async (url: string) => ((await (await fetch(`${url}/v1/flags`)).json()) as { flags: Record<string, boolean> }).flags.sse_streaming;
  const putFlag = (url: string, enabled: boolean) =>
    fetch(`${url}/v1/admin/flags/sse_streaming`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ enabled, rollout: 100 }),
    });

  it('readiness flips and names redis, limited routes answer 503 dependency_unavailable (never 500, never unlimited), and all resumes without a restart', async () => {
    const [a, b] = nodes as [TestServer, TestServer];
    expect((await compare(a.url)).status).toBe(200);
    expect((await publish(a.url, 'k1')).status).toBe(200);

    await redis.stop();
    for (const n of nodes) {
      const ready = await poll('/ready to fail', async () => {
        const res = await fetch(`${n.url}/ready`);
        return res.status === 503 ? res : undefined;
      });
      expect(ready.headers.get('retry-after')).toBe('2');
      expect(await ready.json()).toMatchObject({ code: 'dependency_unavailable', dependency: 'redis' });
    }
    // Counters cannot be checked: refused, explicitly, on every node (and never a hang).
    for (const n of nodes) {
      const res = await compare(n.url);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(await res.json()).toMatchObject({ code: 'dependency_unavailable', dependency: 'redis' });
    }
    // A publish with an idempotency key cannot be de-duplicated across nodes: refused, not published twice later.
    const refused = await publish(b.url, 'k2');
    expect([refused.status, (await refused.json()).code]).toEqual([503, 'dependency_unavailable']);
    // A flag change is saved (PostgreSQL) and in force here, but cannot be announced: 503, and node B picks it up when Redis returns.
    const flip = await putFlag(a.url, false);
    expect([flip.status, (await flip.json()).code]).toEqual([503, 'dependency_unavailable']);
    expect(await flagOf(a.url)).toBe(false);
    expect(await flagOf(b.url)).toBe(true);

    await redis.resume();
    for (const n of nodes) await poll('/ready again', async () => ((await fetch(`${n.url}/ready`)).status === 200 ? true : undefined));
    // Node B reloaded the stored flags when its subscription came back.
    await poll('node B to see the change made during the outage', async () => ((await flagOf(b.url)) === false ? true : undefined));
    for (const n of nodes) expect((await compare(n.url)).status).toBe(200);
    const ok = await publish(b.url, 'k2');
    expect(ok.status).toBe(200);
    const dup = await (await publish(a.url, 'k2')).json();
    expect(dup).toMatchObject({ duplicate: true });
    // Changes travel again.
    expect((await putFlag(b.url, true)).status).toBe(200);
    await poll('node A to see the change', async () => ((await flagOf(a.url)) === true ? true : undefined), 5_000);
  }, 60_000);
});
