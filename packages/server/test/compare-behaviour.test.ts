import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DemoProvider, demoFailureMode } from '../src/llm/demo-provider.js';
import { RecordingProvider } from './support/recording-provider.js';
import { startServer, type TestServer } from './support/server.js';
import { postJson, sseRequest, type TimedMessage } from './support/sse-client.js';

const nativeText = (messages: TimedMessage[], model: string) =>
  messages
    .filter((m) => m.event === 'model.delta' && m.json.model === model)
    .map((m) => m.json.text)
    .join('');

describe('comparisons', () => {
  let server: TestServer;
  let provider: RecordingProvider;
  beforeAll(async () => {
    provider = new RecordingProvider(new DemoProvider({ speed: 8 }));
    server = await startServer({}, { providers: [provider] });
  });
  afterAll(() => server.close());

  it('cancel mid-stream: every model ends cancelled at once, no deltas after, stored as cancelled', async () => {
    const models = ['demo/fast', 'demo/balanced', 'demo/slow'];
    const started = await postJson(`${server.url}/v1/comparisons`, { prompt: 'Tell me about rivers.', models });
    expect(started.status).toBe(201);
    const { id } = started.json;
    let cancelledAt = 0;
    const stream = await sseRequest(`${server.url}/v1/comparisons/${id}/stream`, {
      until: (m, all) => {
        if (!cancelledAt && all.filter((x) => x.event === 'model.delta').length === 20) {
          cancelledAt = m.t;
          void fetch(`${server.url}/v1/comparisons/${id}`, { method: 'DELETE' }).then((r) => expect(r.status).toBe(202));
        }
      },
    });
    expect(stream.ended).toBe(true);
    const ends = stream.messages.filter((m) => m.event === 'model.error');
    expect(ends.map((m) => m.json.model).sort()).toEqual([...models].sort());
    expect(ends.every((m) => m.json.status === 'cancelled' && m.json.error.code === 'cancelled')).toBe(true);
    for (const model of models) {
      const endIndex = stream.messages.findIndex((m) => m.event === 'model.error' && m.json.model === model);
      expect(stream.messages.slice(endIndex).some((m) => m.event === 'model.delta' && m.json.model === model)).toBe(false);
    }
    expect(stream.messages.at(-1)!.json).toMatchObject({ status: 'cancelled' });
    expect(provider.aborted).toEqual(expect.arrayContaining(models));
    const stored = await (await fetch(`${server.url}/v1/comparisons/${id}`)).json();
    expect(stored.status).toBe('cancelled');
    expect(stored.models.map((m: any) => m.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    // cancelling again is harmless and reports the final state
    const again = await fetch(`${server.url}/v1/comparisons/${id}`, { method: 'DELETE' });
    expect(await again.json()).toMatchObject({ status: 'cancelled' });
  });

  it('a dropped client does not cancel: the generation runs to the end on the server', async () => {
    const r = await sseRequest(`${server.url}/compare-stream`, {
      body: { input_data: 'Rivers again', models: ['demo/fast'] },
      until: (_m, all) => (all.length > 5 ? 'drop' : undefined),
    });
    const id = r.headers['x-comparison-id'] as string;
    for (let i = 0; i < 100; i++) {
      const s = await (await fetch(`${server.url}/v1/comparisons/${id}`)).json();
      if (s.status !== 'running') {
        expect(s.status).toBe('completed');
        expect(s.models[0].status).toBe('ok');
        return;
      }
      await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error('comparison never finished');
  });

  it('follow-up: each model receives its own earlier answer and not the others', async () => {
    const models = ['demo/fast', 'demo/balanced'];
    const first = await sseRequest(`${server.url}/v1/comparisons`, { body: { prompt: 'Name a colour.', models } });
    const conversationId = first.headers['x-conversation-id'] as string;
    const answers = Object.fromEntries(models.map((m) => [m, nativeText(first.messages, m)]));
    expect(answers['demo/fast']).not.toBe(answers['demo/balanced']);
    provider.requests.length = 0;
    const second = await sseRequest(`${server.url}/v1/comparisons`, { body: { prompt: 'Why that one?', models, conversationId } });
    expect(second.headers['x-conversation-id']).toBe(conversationId);
    for (const model of models) {
      const req = provider.requests.find((r) => r.model === model)!;
      expect(req.messages).toEqual([
        { role: 'user', content: 'Name a colour.' },
        { role: 'assistant', content: answers[model] },
        { role: 'user', content: 'Why that one?' },
      ]);
    }
    const conversation = await (await fetch(`${server.url}/v1/conversations/${conversationId}`)).json();
    expect(conversation.messages).toHaveLength(6);
  });

  it('bounds the history window and reports what it dropped', async () => {
    const small = await startServer({ compare: { historyMessages: 2 } });
    try {
      const models = ['demo/fast'];
      let conversationId: string | undefined;
      for (const prompt of ['one', 'two', 'three']) {
        const r = await sseRequest(`${small.url}/v1/comparisons`, { body: { prompt, models, ...(conversationId ? { conversationId } : {}) } });
        conversationId = r.headers['x-conversation-id'] as string;
        const start = r.messages.find((m) => m.event === 'comparison.start')!.json;
        expect(start.historyDropped).toBe(prompt === 'three' ? 2 : 0);
      }
      const list = await (await fetch(`${small.url}/v1/comparisons?conversationId=${conversationId}`)).json();
      expect(list.comparisons.map((c: any) => c.prompt).sort()).toEqual(['one', 'three', 'two']);
    } finally {
      await small.close();
    }
  });

  it('follow-up with seed conversation_history: assistant turns go to their own model only', async () => {
    provider.requests.length = 0;
    await sseRequest(`${server.url}/compare-stream`, {
      body: {
        input_data: 'And now?',
        models: ['demo/fast', 'demo/slow'],
        conversation_history: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'fast said hi', model_id: 'demo/fast' },
          { role: 'assistant', content: 'slow said hi', model_id: 'demo/slow' },
        ],
      },
    });
    const fast = provider.requests.find((r) => r.model === 'demo/fast')!;
    expect(fast.messages.map((m) => m.content)).toEqual(['Hi', 'fast said hi', 'And now?']);
    const slow = provider.requests.find((r) => r.model === 'demo/slow')!;
    expect(slow.messages.map((m) => m.content)).toEqual(['Hi', 'slow said hi', 'And now?']);
  });

  it('a flaky model and an unknown model fail with classified errors while the others complete', async () => {
    let prompt = 'Compare oceans';
    for (let i = 0; demoFailureMode('demo/flaky', [{ role: 'user', content: prompt }]) !== 'mid_stream'; i++) prompt = `Compare oceans ${i}`;
    const r = await sseRequest(`${server.url}/compare-stream`, { body: { input_data: prompt, models: ['demo/fast', 'demo/flaky', 'demo/nope', 'demo/slow'] } });
    const done = Object.fromEntries(r.messages.filter((m) => m.json?.type === 'done').map((m) => [m.json.model, m.json]));
    expect(done['demo/fast']).toMatchObject({ error: false });
    expect(done['demo/slow']).toMatchObject({ error: false });
    expect(done['demo/flaky']).toMatchObject({ error: true, error_code: 'upstream_error', retryable: true });
    expect(done['demo/nope']).toMatchObject({ error: true, error_code: 'invalid_model', retryable: false });
    expect(r.messages.some((m) => m.json?.type === 'chunk' && m.json.model === 'demo/flaky')).toBe(true);
    expect(r.messages.at(-1)!.json.metadata).toMatchObject({ models_requested: 4, models_successful: 2, models_failed: 2 });
    expect(provider.requests.some((q) => q.model === 'demo/nope')).toBe(false); // never reached a provider
  });

  it('POST /compare answers the whole comparison in the seed shape', async () => {
    const r = await postJson(`${server.url}/compare`, { input_data: 'Hi', models: ['demo/fast', 'demo/nope'], tier: 'brief' });
    expect(r.status).toBe(200);
    expect(typeof r.json.results['demo/fast']).toBe('string');
    expect(r.json.results['demo/fast'].length).toBeGreaterThan(50);
    expect(r.json.errors['demo/nope'].code).toBe('invalid_model');
    expect(r.json.metadata).toMatchObject({ input_length: 2, models_requested: 2, models_successful: 1, models_failed: 1 });
    expect(typeof r.json.metadata.processing_time_ms).toBe('number');
    expect(Date.parse(r.json.metadata.timestamp)).not.toBeNaN();
    const api = await postJson(`${server.url}/api/compare`, { input_data: 'Hi', models: ['demo/fast'] });
    expect(api.status).toBe(200);
  });

  it('marks an answer cut by the tier output limit as truncated', async () => {
    const small = await startServer({
      compare: {
        tiers: {
          brief: { maxInputChars: 1_000, maxOutputTokens: 5 },
          standard: { maxInputChars: 5_000, maxOutputTokens: 4_000 },
          extended: { maxInputChars: 15_000, maxOutputTokens: 8_192 },
        },
      },
    });
    try {
      const r = await sseRequest(`${small.url}/v1/comparisons`, { body: { prompt: 'Hi', models: ['demo/fast'], tier: 'brief' } });
      const done = r.messages.find((m) => m.event === 'model.done')!;
      expect(done.json).toMatchObject({ status: 'truncated', finishReason: 'length', usage: { outputTokens: 5 } });
      expect(r.messages.filter((m) => m.event === 'model.delta')).toHaveLength(5);
    } finally {
      await small.close();
    }
  });

  it('GET /models lists the demo models labelled as demo, grouped by provider', async () => {
    for (const path of ['/models', '/api/models']) {
      const body = await (await fetch(`${server.url}${path}`)).json();
      expect(body.models.length).toBeGreaterThanOrEqual(4);
      expect(body.models.every((m: any) => m.id && m.name && m.provider === 'demo' && m.demo === true)).toBe(true);
      expect(body.models_by_provider.demo).toHaveLength(body.models.length);
    }
  });
});

describe('chat', () => {
  it('streams one model, and with ENABLE_SSE_STREAMING=false /chat-stream is 403 while /chat works', async () => {
    const on = await startServer();
    const off = await startServer({}, { env: { ENABLE_SSE_STREAMING: 'false' } });
    try {
      const stream = await sseRequest(`${on.url}/chat-stream?query=${encodeURIComponent('Hello there')}&model=demo/fast`);
      expect(stream.messages.filter((m) => m.json?.type === 'chunk').length).toBeGreaterThan(10);
      expect(stream.messages.at(-1)!.json.type).toBe('complete');
      const post = await sseRequest(`${on.url}/chat-stream`, { body: { query: 'Hello there' } });
      expect(post.messages.some((m) => m.json?.type === 'chunk' && m.json.model === 'demo/balanced')).toBe(true);

      for (const req of [fetch(`${off.url}/chat-stream?query=hi`), postJson(`${off.url}/chat-stream`, { query: 'hi' })]) {
        const res = await req;
        expect(res.status).toBe(403);
        const body = 'json' in res && typeof res.json !== 'function' ? res.json : await (res as Response).json();
        expect(body.code).toBe('feature_flag_disabled');
      }
      const chat = await postJson(`${off.url}/chat`, { query: 'Hello there', conversation_history: [{ role: 'user', content: 'earlier' }] });
      expect(chat.status).toBe(200);
      expect(chat.json.response.length).toBeGreaterThan(20);
      expect(chat.json.model).toBe('demo/balanced');
    } finally {
      await on.close();
      await off.close();
    }
  });
});
