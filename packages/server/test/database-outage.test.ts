import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL, dropSchema, postgresAvailable, randomSchema } from './support/postgres.js';
import { startServer, type TestServer } from './support/server.js';
import { postJson, sseRequest, type SseResult } from './support/sse-client.js';
import { tcpSwitch } from './support/tcp-switch.js';

const pgUp = await postgresAvailable();

/**
 * PostgreSQL becomes unreachable for this server only (a proxy we cut), never for the real
 * database others use: reads get 503 with Retry-After, /ready names the database, writes queue
 * within their budget (then 503), and everything recovers by itself with nothing acknowledged lost.
 */
describe.skipIf(!pgUp)('PostgreSQL unreachable, then back', () => {
  const schema = randomSchema();
  let proxy: Awaited<ReturnType<typeof tcpSwitch>>;
  let server: TestServer;

  beforeAll(async () => {
    const target = new URL(TEST_DATABASE_URL);
    proxy = await tcpSwitch(target.hostname, Number(target.port || 5432));
    target.host = `127.0.0.1:${proxy.port}`;
    server = await startServer({
      database: { url: target.toString(), schema },
      demo: { speed: 1, models: { 'demo/fast': { name: 'Fast', firstTokenMs: 0, tokensPerSecond: 400, answerTokens: 30 } } },
      // A small budget so the test reaches it: each comparison queues a few hundred bytes.
      durability: { retryMinMs: 50, retryMaxMs: 200, maxPendingBytes: 4_000, checkpointTokens: 1_000, ackTimeoutMs: 300 },
    });
  });
  afterAll(async () => {
    await server?.close();
    await proxy?.close();
    await dropSchema(schema);
  });

  it('reads 503 with Retry-After, /ready names the database, writes queue then 503, and all recovers', async () => {
    const before = await postJson(`${server.url}/compare`, { input_data: 'Before the outage.', models: ['demo/fast'] });
    expect(before.status).toBe(200);

    proxy.cut();
    const read = await fetch(`${server.url}/v1/comparisons/${before.json.comparison_id}`);
    expect(read.status).toBe(503);
    expect(read.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await read.json()).toMatchObject({ code: 'unavailable', dependency: 'database' });
    const list = await fetch(`${server.url}/v1/comparisons`);
    expect(list.status).toBe(503);

    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await ready.json()).toMatchObject({ code: 'unavailable', dependency: 'database' });

    // A non-streaming answer does not hang on the outage: 503 naming the comparison, stored later.
    const waited = await postJson(`${server.url}/compare`, { input_data: 'During the outage, whole.', models: ['demo/fast'] });
    expect(waited.status).toBe(503);
    expect(waited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(waited.json).toMatchObject({ code: 'unavailable', dependency: 'database', comparison_id: expect.stringMatching(/^cmp_/) });

    // Writes are accepted and queued while the budget lasts; their final events wait for the commit.
    const streams: Promise<SseResult>[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 40 && !refused; i++) {
      const started = await fetch(`${server.url}/v1/comparisons`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: `During the outage ${i}.`, models: ['demo/fast'] }),
      });
      if (started.status === 503) refused = started;
      else {
        expect(started.status).toBe(201);
        const { id } = await started.json();
        streams.push(sseRequest(`${server.url}/v1/comparisons/${id}/stream`, { method: 'GET' }));
        await new Promise((r) => setTimeout(r, 30)); // let its model finish and queue its result
      }
    }
    expect(refused, 'the write budget must refuse new work').toBeDefined();
    expect(refused!.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await refused!.json()).toMatchObject({ code: 'unavailable', dependency: 'database' });
    expect(streams.length).toBeGreaterThan(0);
    expect(server.app.ctx.store.pendingWrites()).toBeGreaterThan(0);

    // Nothing was acknowledged while the database was away: no done event went out.
    const early = await Promise.race([Promise.all(streams).then(() => 'ended'), new Promise((r) => setTimeout(() => r('waiting'), 300))]);
    expect(early).toBe('waiting');

    proxy.restore();
    // Recovers by itself: the queued writes commit, the held final events go out.
    const ended = await Promise.all(streams);
    for (const s of ended) {
      expect(s.messages.map((m) => m.event)).toContain('model.done');
      expect(s.messages.at(-1)?.event).toBe('comparison.done');
    }
    expect((await fetch(`${server.url}/ready`)).status).toBe(200);
    const ids = ended.map((s) => s.headers['x-comparison-id'] as string);
    for (const [i, id] of ids.entries()) {
      const stored = await (await fetch(`${server.url}/v1/comparisons/${id}`)).json();
      expect(stored.status).toBe('completed');
      const streamedText = ended[i]!.messages.filter((m) => m.event === 'model.delta')
        .map((m) => m.json.text)
        .join('');
      expect(stored.models[0].text).toBe(streamedText);
    }
    const late = await (await fetch(`${server.url}/v1/comparisons/${waited.json.comparison_id}`)).json();
    expect(late.status).toBe('completed');
    expect((await server.app.ctx.store.monitoring()).successful).toBe(2 + ids.length);
    const after = await postJson(`${server.url}/compare`, { input_data: 'After the outage.', models: ['demo/fast'] });
    expect(after.status).toBe(200);
  });
});

describe.skipIf(!pgUp)('shutting down while PostgreSQL is unreachable', () => {
  it('ends within its bounds: grace, cancel, then the store gives up its queue; nothing unwritten was acknowledged', async () => {
    const schema = randomSchema();
    const target = new URL(TEST_DATABASE_URL);
    const proxy = await tcpSwitch(target.hostname, Number(target.port || 5432));
    target.host = `127.0.0.1:${proxy.port}`;
    const server = await startServer({
      database: { url: target.toString(), schema },
      server: { shutdownGraceMs: 200 },
      demo: { speed: 1, models: { 'demo/fast': { name: 'Fast', firstTokenMs: 0, tokensPerSecond: 400, answerTokens: 30 } } },
      durability: { retryMinMs: 50, retryMaxMs: 100, closeTimeoutMs: 300 },
    });
    try {
      proxy.cut();
      const started = await postJson(`${server.url}/v1/comparisons`, { prompt: 'Cut off.', models: ['demo/fast'] });
      expect(started.status).toBe(201);
      const stream = sseRequest(`${server.url}/v1/comparisons/${started.json.id}/stream`, { method: 'GET' });
      await new Promise((r) => setTimeout(r, 300)); // the model has ended; its done waits for the commit
      const t0 = Date.now();
      await server.close();
      expect(Date.now() - t0).toBeLessThan(5_000);
      const result = await stream;
      const events = result.messages.map((m) => m.event);
      expect(events).toContain('model.delta');
      expect(events).not.toContain('model.done'); // never written, so never acknowledged
      expect(events).not.toContain('comparison.done');
    } finally {
      await server.close();
      await proxy.close();
      await dropSchema(schema);
    }
  });
});
