import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { EventSource } from 'eventsource';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { configFile, startChild, type ChildServer } from './support/child-server.js';
import { TEST_DATABASE_URL, dropSchema, postgresAvailable, randomSchema } from './support/postgres.js';
import { postJson, sseRequest } from './support/sse-client.js';

/**
 * Acknowledged means durable, proven with SIGKILL on the real CLI: what a client was told is
 * finished (a /compare answer, a streaming model's `done` frame) is there after a restart,
 * and an interrupted model keeps the text of its last checkpoint.
 */
const CHECKPOINT_TOKENS = 5;
const demoModels = {
  'demo/fast': { name: 'Fast', firstTokenMs: 0, tokensPerSecond: 200, answerTokens: 40 },
  'demo/quick': { name: 'Quick', firstTokenMs: 0, tokensPerSecond: 150, answerTokens: 30 },
  // Still running when the others end: its stream is cut by the kill.
  'demo/crawl': { name: 'Crawl', firstTokenMs: 0, tokensPerSecond: 40, answerTokens: 3_000 },
};

interface Backend {
  name: string;
  config: Record<string, unknown>;
  usageRows(comparisonId: string): Promise<Record<string, unknown>[]>;
  cleanup(): Promise<void>;
}

function sqlite(): Backend {
  const dataDir = mkdtempSync(join(tmpdir(), 'tributary-crash-'));
  return {
    name: 'sqlite',
    config: { dataDir },
    async usageRows(id) {
      const db = new SqliteDatabase(join(dataDir, 'tributary.db'), { readonly: true });
      try {
        return db.prepare('select * from usage_log where comparison_id = ?').all(id) as Record<string, unknown>[];
      } finally {
        db.close();
      }
    },
    async cleanup() {},
  };
}

function postgres(): Backend {
  const schema = randomSchema();
  return {
    name: 'postgres',
    config: { dataDir: mkdtempSync(join(tmpdir(), 'tributary-crash-')), database: { url: TEST_DATABASE_URL, schema } },
    async usageRows(id) {
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schema}` });
      await client.connect();
      try {
        return (await client.query('select * from usage_log where comparison_id = $1', [id])).rows;
      } finally {
        await client.end();
      }
    },
    cleanup: () => dropSchema(schema),
  };
}

const backends = [sqlite(), ...((await postgresAvailable()) ? [postgres()] : [])];

describe.each(backends)('SIGKILL on $name', (backend) => {
  const config = configFile({
    ...backend.config,
    demo: { speed: 1, models: demoModels },
    // Nothing is written on a timer during the test: every commit is one somebody waited for.
    usage: { flushIntervalMs: 60_000, batchSize: 10_000 },
    durability: { checkpointTokens: CHECKPOINT_TOKENS, checkpointMs: 600_000 },
    streams: { sseRetryMs: 50 },
    web: { enabled: false },
  });
  const start = () => startChild(['--config', config]);
  let server: ChildServer | undefined;
  afterAll(async () => {
    await server?.kill();
    await backend.cleanup();
  });

  let answered: { comparisonId: string; conversationId: string; results: Record<string, string> };
  let streamed: { comparisonId: string; chunks: Record<string, string[]>; crawlChunksBeforeDone: number };

  it('a /compare answer survives a SIGKILL right after it: results, messages, usage row; a follow-up works', async () => {
    server = await start();
    const prompt = 'Explain tides to a child.';
    const { status, json } = await postJson(`${server.url}/compare`, { input_data: prompt, models: ['demo/fast', 'demo/quick'] });
    await server.kill(); // the very moment the client has its answer
    expect(status).toBe(200);
    answered = { comparisonId: json.comparison_id, conversationId: json.conversation_id, results: json.results };

    server = await start();
    const stored = await (await fetch(`${server.url}/v1/comparisons/${answered.comparisonId}`)).json();
    expect(stored.status).toBe('completed');
    expect(Object.fromEntries(stored.models.map((m: any) => [m.model, m.text]))).toEqual(answered.results);
    expect(stored.models.map((m: any) => m.status)).toEqual(['ok', 'ok']);

    const conversation = await (await fetch(`${server.url}/v1/conversations/${answered.conversationId}`)).json();
    expect(conversation.messages.map((m: any) => [m.role, m.modelId, m.content])).toEqual([
      ['user', null, prompt],
      ['assistant', 'demo/fast', answered.results['demo/fast']],
      ['assistant', 'demo/quick', answered.results['demo/quick']],
    ]);
    const usage = await backend.usageRows(answered.comparisonId);
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({ kind: 'compare', models_requested: 2, models_successful: 2, models_failed: 0, models_used: 'demo/fast,demo/quick' });

    const followUp = await postJson(`${server.url}/compare`, {
      input_data: 'And why twice a day?',
      models: ['demo/fast'],
      conversation_id: answered.conversationId,
    });
    expect(followUp.status).toBe(200);
    expect(followUp.json.conversation_id).toBe(answered.conversationId);
    const after = await (await fetch(`${server.url}/v1/conversations/${answered.conversationId}`)).json();
    expect(after.messages).toHaveLength(5);
  });

  it("a streaming model's done frame survives a SIGKILL right after it; the running model keeps its checkpointed text", async () => {
    const chunks: Record<string, string[]> = { 'demo/fast': [], 'demo/crawl': [] };
    let comparisonId = '';
    let crawlChunksBeforeDone = -1;
    const running = server!;
    await sseRequest(`${running.url}/compare-stream`, {
      body: { input_data: 'Tell a long story about a river.', models: ['demo/fast', 'demo/crawl'] },
      until: (m) => {
        const d = m.json;
        if (d?.type === 'comparison') comparisonId = d.comparison_id;
        if (d?.type === 'chunk') chunks[d.model]!.push(d.content);
        if (d?.type === 'done' && d.model === 'demo/fast') {
          running.child.kill('SIGKILL'); // at once, before anything else runs
          crawlChunksBeforeDone = chunks['demo/crawl']!.length;
          return 'drop';
        }
      },
    }).catch(() => undefined);
    await running.kill();
    expect(comparisonId).not.toBe('');
    expect(crawlChunksBeforeDone).toBeGreaterThan(CHECKPOINT_TOKENS);
    streamed = { comparisonId, chunks, crawlChunksBeforeDone };

    server = await start();
    const stored = await (await fetch(`${server.url}/v1/comparisons/${comparisonId}`)).json();
    expect(stored.status).toBe('interrupted');
    const [fast, crawl] = stored.models;
    expect(fast).toMatchObject({ model: 'demo/fast', status: 'ok', text: chunks['demo/fast']!.join('') });
    expect(fast.result.outputTokens).toBe(chunks['demo/fast']!.length);
    expect(crawl.model).toBe('demo/crawl');
    expect(crawl.status).toBe('interrupted');
    // Exactly a checkpoint: a prefix of what was streamed, cut at a multiple of the checkpoint
    // interval (checkpointMs is out of reach here). Which checkpoint depends on when the commit
    // that carried it began (the timer never runs in this test): at least the first one.
    const crawled = chunks['demo/crawl']!;
    const kept = crawled.findIndex((_, i) => crawled.slice(0, i + 1).join('') === crawl.text) + 1;
    expect(kept).toBeGreaterThanOrEqual(CHECKPOINT_TOKENS);
    expect(kept % CHECKPOINT_TOKENS).toBe(0);
    expect(kept).toBeLessThanOrEqual(crawlChunksBeforeDone);
    expect(crawl.result.outputTokens).toBe(kept);
  });

  it("the interrupted comparison's stream ends with a final event, and EventSource stops reconnecting", async () => {
    const requests: { lastEventId: string | null; status: number }[] = [];
    const events: { type: string; data: any; id: string }[] = [];
    // Every (re)connect EventSource makes goes through this fetch, so none can go unseen.
    const es = new EventSource(`${server!.url}/v1/comparisons/${streamed.comparisonId}/stream`, {
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        requests.push({ lastEventId: new Headers(init?.headers).get('last-event-id'), status: response.status });
        return response;
      },
    });
    for (const type of ['recovery', 'comparison.done']) {
      es.addEventListener(type, (e) => events.push({ type, data: JSON.parse(e.data), id: e.lastEventId }));
    }
    const deadline = Date.now() + 10_000;
    while (es.readyState !== EventSource.CLOSED && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(es.readyState).toBe(EventSource.CLOSED);
    // Long enough for several more reconnects at the 50 ms retry hint, if there were any.
    await new Promise((r) => setTimeout(r, 400));
    es.close();

    expect(events.map((e) => e.type)).toEqual(['recovery', 'comparison.done']);
    const [recovery, done] = events;
    expect(recovery!.data.recovered).toBe(false);
    expect(recovery!.data.snapshot.models.map((m: any) => m.status)).toEqual(['ok', 'interrupted']);
    expect(recovery!.data.snapshot.models[1].text).not.toBe('');
    expect(done!.data).toMatchObject({ status: 'interrupted', interrupted: ['demo/crawl'] });
    expect(requests).toEqual([
      { lastEventId: null, status: 200 },
      { lastEventId: done!.id, status: 204 },
    ]);
  });

  it('a /chat answer survives a SIGKILL right after it', async () => {
    const { status, json } = await postJson(`${server!.url}/chat`, { query: 'One line on rivers.', model: 'demo/quick' });
    await server!.kill();
    expect(status).toBe(200);
    server = await start();
    const stored = await (await fetch(`${server.url}/v1/comparisons/${json.comparison_id}`)).json();
    expect(stored).toMatchObject({ kind: 'chat', status: 'completed' });
    expect(stored.models[0].text).toBe(json.response);
    const conversation = await (await fetch(`${server.url}/v1/conversations/${json.conversation_id}`)).json();
    expect(conversation.messages.map((m: any) => m.content)).toEqual(['One line on rivers.', json.response]);
    expect(await backend.usageRows(json.comparison_id)).toEqual([expect.objectContaining({ kind: 'chat', models_successful: 1 })]);
  });

  it('the seed stream (POST /compare-stream resumed with Last-Event-ID) of the interrupted comparison ends with a complete frame', async () => {
    const first = await sseRequest(`${server!.url}/v1/comparisons/${streamed.comparisonId}/stream`, { method: 'GET' });
    const oldId = first.messages.at(-1)!.id!;
    const result = await sseRequest(`${server!.url}/compare-stream`, {
      body: { input_data: 'ignored on resume', models: ['demo/fast'] },
      headers: { 'Last-Event-ID': `comparison:${streamed.comparisonId}:old-epoch:3` },
    });
    expect(result.ended).toBe(true);
    const frames = result.messages.map((m) => m.json);
    expect(frames[0]).toMatchObject({ type: 'recovery', recovered: false, reason: 'epoch_changed' });
    expect(frames.at(-1)).toMatchObject({ type: 'complete', status: 'interrupted', interrupted: ['demo/crawl'] });
    expect(result.messages.at(-1)!.id).toBe(oldId); // one final event, however many streams ask
  });
});
