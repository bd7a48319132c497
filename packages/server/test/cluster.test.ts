import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealtimeClient, type WebSocketConstructor } from '../../client/src/index.js';
import { startTestCluster, type TestCluster } from './support/cluster.js';
import { postJson, sseRequest, type TimedMessage } from './support/sse-client.js';
import pg from 'pg';
import { postgresAvailable, TEST_DATABASE_URL } from './support/postgres.js';
import { metrics, publish, publishN, RawWs } from './support/realtime.js';
import { redisAvailable } from './support/redis.js';

const clusterUp = (await redisAvailable()) && (await postgresAvailable());

/** Subscribes a native WebSocket client to `channel` (from `position` if given); resolves once subscribed. */
async function subscriber(url: string, channel: string, position?: { epoch: string; seq: number }) {
  const ws = await RawWs.native(url);
  ws.send({ type: 'subscribe', id: 1, channel, ...(position ? { position } : {}) });
  const answer = await ws.next((m) => m.type === 'subscribed' || m.type === 'error', 10_000);
  const seqs = () => ws.messages.filter((m) => m.type === 'pub' && m.channel === channel).map((m) => m.seq as number);
  return { ws, answer, seqs };
}

/** Each model's text as the stream told it. */
function textOf(messages: TimedMessage[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of messages) if (m.event === 'model.delta') out[m.json.model] = (out[m.json.model] ?? '') + m.json.text;
  return out;
}

const LEASE_MS = 1_500;
// demo/long takes ~6 s: long enough to watch, move, cancel and kill it mid-generation.
const DEMO = {
  speed: 1,
  models: {
    'demo/fast': { name: 'Fast', firstTokenMs: 10, tokensPerSecond: 400, answerTokens: 300, flaky: false },
    'demo/long': { name: 'Long', firstTokenMs: 20, tokensPerSecond: 100, answerTokens: 600, flaky: false },
    'demo/endless': { name: 'Endless', firstTokenMs: 20, tokensPerSecond: 50, answerTokens: 5_000, flaky: false },
  },
};

describe.runIf(clusterUp)('three nodes on Redis and PostgreSQL', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await startTestCluster({ nodes: 3, config: { demo: DEMO, compare: { leaseMs: LEASE_MS } } });
  }, 90_000);
  afterAll(async () => cluster?.close());
  const url = (i: number) => cluster.nodes[i]!.url;

  it('an event published on node 1 reaches subscribers on nodes 2 and 3, through one feed per node', async () => {
    const clients = await Promise.all([1, 1, 1, 2, 2].map((i) => subscriber(url(i), 'public:fan')));
    const { status, json } = await publish(url(0), { channel: 'public:fan', data: { hello: 1 } });
    expect(status).toBe(200);
    for (const c of clients) await expect.poll(() => c.seqs(), { timeout: 10_000 }).toEqual([json.seq]);
    const m2 = await metrics(url(1));
    // three local subscribers on node 2, one Redis subscription for the channel
    expect(m2.connectionPoolStats).toMatchObject({ totalSubscriptions: 1, totalConnections: 3 });
    for (const c of clients) c.ws.close();
  });

  it('a client that leaves node 2 and resumes on node 3 gets exactly the events it missed', async () => {
    const epoch = await publishN(url(0), 'public:resume', 5);
    const first = await subscriber(url(1), 'public:resume', { epoch, seq: 0 });
    await expect.poll(() => first.seqs(), { timeout: 10_000 }).toEqual([1, 2, 3, 4, 5]);
    first.ws.close();
    await publishN(url(0), 'public:resume', 7, 6);
    const again = await subscriber(url(2), 'public:resume', { epoch, seq: 5 });
    expect(again.answer).toMatchObject({ type: 'subscribed', recovered: true, replayed: 7, top: { epoch, seq: 12 } });
    await publish(url(1), { channel: 'public:resume', data: { live: true } });
    await expect.poll(() => again.seqs(), { timeout: 10_000 }).toEqual([6, 7, 8, 9, 10, 11, 12, 13]);
    again.ws.close();
  });

  it('sequence numbers stay one counter per channel when every node publishes at once', async () => {
    const watcher = await subscriber(url(0), 'public:race');
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => publish(url(i % 3), { channel: 'public:race', data: { i } })));
    const seqs = results.map((r) => r.json.seq as number).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    await expect.poll(() => watcher.seqs().length, { timeout: 10_000 }).toBe(60);
    expect(watcher.seqs()).toEqual(seqs);
    watcher.ws.close();
  });

  it('a comparison started on node 1 is watched on node 1, resumed on node 2 with identical text, and read back from node 3', async () => {
    const created = await postJson(`${url(0)}/v1/comparisons`, { prompt: 'Tell me about rivers.', models: ['demo/fast', 'demo/long'], tier: 'standard' });
    expect(created.status).toBe(201);
    const { id } = created.json;
    let deltas = 0;
    const first = await sseRequest(`${url(0)}/v1/comparisons/${id}/stream`, {
      until: (m) => (m.event === 'model.delta' && ++deltas === 20 ? 'drop' : undefined),
    });
    const lastId = first.messages.filter((m) => m.id).at(-1)!.id!;
    const rest = await sseRequest(`${url(1)}/v1/comparisons/${id}/stream`, { headers: { 'Last-Event-ID': lastId } });
    expect(rest.status).toBe(200);
    expect(rest.messages[0]).toMatchObject({ event: 'recovery', json: { recovered: true } });
    expect(rest.messages.at(-1)).toMatchObject({ event: 'comparison.done', json: { status: 'completed' } });
    const seen = textOf([...first.messages, ...rest.messages]);
    await expect.poll(async () => (await fetch(`${url(2)}/v1/comparisons/${id}`)).json(), { timeout: 10_000 }).toMatchObject({ status: 'completed' });
    const stored = await (await fetch(`${url(2)}/v1/comparisons/${id}`)).json();
    for (const m of stored.models) expect(seen[m.model], m.model).toBe(m.text);
    expect(stored.models.find((m: any) => m.model === 'demo/long').text.length).toBeGreaterThan(500);
  }, 60_000);

  it('a cancel sent to node 3 stops the generation running on node 1 within a second', async () => {
    const created = await postJson(`${url(0)}/v1/comparisons`, { prompt: 'A long answer, please.', models: ['demo/long'], tier: 'standard' });
    const { id } = created.json;
    let cancelledAt = 0;
    const watched = sseRequest(`${url(1)}/v1/comparisons/${id}/stream`);
    // Mid-generation (the snapshot on node 3 has text), cancel through node 3.
    await expect
      .poll(async () => (await (await fetch(`${url(2)}/v1/comparisons/${id}`)).json()).models?.[0]?.text.length ?? 0, { timeout: 10_000 })
      .toBeGreaterThan(20);
    const cancel = await fetch(`${url(2)}/v1/comparisons/${id}`, { method: 'DELETE' });
    cancelledAt = performance.now();
    expect(cancel.status).toBe(202);
    const stream = await watched;
    const end = stream.messages.find((m) => m.event === 'model.error')!;
    expect(end.json).toMatchObject({ model: 'demo/long', status: 'cancelled', error: { code: 'cancelled' } });
    expect(stream.messages.at(-1)).toMatchObject({ event: 'comparison.done', json: { status: 'cancelled' } });
    // Stopped at once: the stream ended well before the ~6 s the model would take.
    expect(performance.now() - cancelledAt).toBeLessThan(1_000 + 500);
    expect(textOf(stream.messages)['demo/long']!.length).toBeLessThan(2_000);
  }, 60_000);

  it('a node that starts while another runs a comparison leaves it running (it marks only crashed ones interrupted)', async () => {
    const created = await postJson(`${url(0)}/v1/comparisons`, { prompt: 'Keep going.', models: ['demo/endless'], tier: 'standard' });
    const { id } = created.json;
    const db = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
    const status = async () => (await db.query(`select status from "${cluster.schema}".comparisons where id = $1`, [id])).rows[0]?.status;
    try {
      await expect.poll(status, { timeout: 10_000 }).toBe('running');
      await cluster.nodes[1]!.stop();
      await cluster.nodes[1]!.start();
      // Still running after the start (a start used to mark every running row interrupted, other nodes' too).
      expect(await status()).toBe('running');
    } finally {
      await db.end();
    }
    const watched = sseRequest(`${url(1)}/v1/comparisons/${id}/stream`);
    expect((await fetch(`${url(1)}/v1/comparisons/${id}`, { method: 'DELETE' })).status).toBe(202);
    expect((await watched).messages.at(-1)).toMatchObject({ event: 'comparison.done', json: { status: 'cancelled' } });
    await expect.poll(async () => (await (await fetch(`${url(1)}/v1/comparisons/${id}`)).json()).status, { timeout: 10_000 }).toBe('cancelled');
  }, 60_000);

  it('SIGKILL of a node during live fan-out: its clients resume on the survivors with every event exactly once', async () => {
    const victim = cluster.nodes[2]!;
    let targets = [victim.url];
    const anyNode = (u: string) =>
      u.replace(/^(http|ws):\/\/[^/]+/, (_m, scheme: string) => `${scheme}://${new URL(targets[Math.floor(Math.random() * targets.length)]!).host}`);
    class AnyNodeWebSocket extends WebSocket {
      constructor(u: string) {
        super(anyNode(u));
      }
    }
    const clients = Array.from({ length: 12 }, (_, i) => {
      const seqs: number[] = [];
      const answers: any[] = [];
      const client = new RealtimeClient({
        url: victim.url,
        WebSocket: AnyNodeWebSocket as unknown as WebSocketConstructor,
        fetch: ((u: string, init?: RequestInit) => fetch(anyNode(String(u)), init)) as typeof fetch,
        transports: [(['websocket', 'sse', 'poll'] as const)[i % 3]],
        backoff: { initialMs: 20, maxMs: 200 },
        pollTimeoutMs: 1_000,
      });
      client.subscribe('public:kill', { onEvent: (e) => seqs.push(e.seq), onRecovery: (a) => answers.push(a) });
      return { client, seqs, answers };
    });
    await expect.poll(() => clients.every((c) => c.answers.length > 0), { timeout: 20_000 }).toBe(true);
    let top = 0;
    const publishSome = async (n: number) => {
      for (let i = 0; i < n; i++) top = (await publish(url(0), { channel: 'public:kill', data: { i } })).json.seq;
    };
    await publishSome(20);
    targets = [url(0), url(1)];
    const publishing = publishSome(100);
    await victim.kill();
    await publishing;
    await expect.poll(() => clients.every((c) => c.seqs.at(-1) === top), { timeout: 30_000 }).toBe(true);
    for (const c of clients) {
      expect(c.seqs).toEqual(Array.from({ length: top }, (_, i) => i + 1));
      expect(c.answers.every((a) => a.recovered)).toBe(true);
      c.client.close();
    }
  }, 90_000);

  it('when the node running a comparison dies, watchers on another node get each unfinished model interrupted within a bounded time', async () => {
    const owner = cluster.nodes[0]!;
    const created = await postJson(`${owner.url}/v1/comparisons`, { prompt: 'Never finished.', models: ['demo/fast', 'demo/long'], tier: 'standard' });
    const { id } = created.json;
    let killedAt = 0;
    let deltas = 0;
    const watched = sseRequest(`${url(1)}/v1/comparisons/${id}/stream`, {
      until: (m) => {
        if (m.event === 'model.delta' && m.json.model === 'demo/long' && ++deltas === 10) {
          killedAt = performance.now();
          void owner.kill();
        }
      },
    });
    const stream = await watched;
    const done = stream.messages.at(-1)!;
    // Every model that had not ended when its node died, and only those, is classified interrupted.
    const ended = stream.messages.filter((m) => m.event === 'model.done' || m.event === 'model.error').map((m) => m.json.model);
    expect(done).toMatchObject({ event: 'comparison.done', json: { status: 'interrupted' } });
    expect(done.json.interrupted).toContain('demo/long');
    expect([...done.json.interrupted].sort()).toEqual(['demo/fast', 'demo/long'].filter((m) => !ended.includes(m)));
    expect(performance.now() - killedAt).toBeLessThan(LEASE_MS * 2 + 3_000);
    // The row says so too, and a later reader on node 2 replays the same end.
    await expect.poll(async () => (await (await fetch(`${url(1)}/v1/comparisons/${id}`)).json()).status, { timeout: 10_000 }).toBe('interrupted');
  }, 60_000);
});
