import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CompareRequest } from '../src/compare/comparison-service.js';
import { readLikeCompareAi } from './support/compareai-reader.js';
import { cuttingProxy } from './support/cutting-proxy.js';
import { startServer, type TestServer } from './support/server.js';

/**
 * Existing clients of the replaced systems, unchanged: CompareAI's app and scripts send these
 * requests and read the stream these ways (their model ids are aliased to demo models here).
 */
const COMPAREAI_MODELS = ['anthropic/claude-3.5-sonnet-20241022', 'openai/gpt-4o-mini', 'google/gemini-2.0-flash-exp:free'];
const ALIASES = {
  'anthropic/claude-3.5-sonnet-20241022': 'demo/balanced',
  'openai/gpt-4o-mini': 'demo/fast',
  'google/gemini-2.0-flash-exp:free': 'demo/slow',
  'openai/gpt-3.5-turbo': 'demo/fast',
};

interface AppStream {
  status: number;
  events: any[];
  parseErrors: string[];
  skipped: string[];
}

/** CompareAI's app: fetch, then its stream reader. */
async function readLikeCompareAiApp(url: string, body: unknown, init: RequestInit = {}): Promise<AppStream> {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), ...init });
  const out: AppStream = { status: res.status, events: [], parseErrors: [], skipped: [] };
  if (!res.ok) return out;
  await readLikeCompareAi(res.body!, { event: (e) => out.events.push(e), parseError: (m) => out.parseErrors.push(m), skipped: (m) => out.skipped.push(m) });
  return out;
}

/** CompareAI's scripts: read line by line, keep lines that start with `data: `, JSON-parse the rest. */
async function readLikeCompareAiScript(url: string, body: unknown) {
  const t0 = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const events: { t: number; data: any }[] = [];
  let jsonErrors = 0;
  const decoder = new TextDecoder();
  let pending = '';
  for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
    pending += decoder.decode(bytes, { stream: true });
    const lines = pending.split(/\r\n|\r|\n/);
    pending = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('data: ')) continue;
      try {
        events.push({ t: (performance.now() - t0) / 1000, data: JSON.parse(line.slice(6)) });
      } catch {
        jsonErrors++;
      }
    }
  }
  return { status: res.status, events, jsonErrors };
}

const storedTexts = async (url: string, id: string) =>
  Object.fromEntries(((await (await fetch(`${url}/v1/comparisons/${id}`)).json()).models as any[]).map((m) => [m.model, m.text]));

describe("CompareAI's clients against the seed routes", () => {
  let server: TestServer;
  const seen: CompareRequest[] = [];
  beforeAll(async () => {
    server = await startServer({ demo: { speed: 10 }, models: { aliases: ALIASES } });
    // Observe what the routes hand the comparison service (identity keys anonymous limits on the fingerprint).
    const { comparisons } = server.app.ctx;
    const start = comparisons.start.bind(comparisons);
    comparisons.start = (request) => {
      seen.push(request);
      return start(request);
    };
  });
  afterAll(() => server.close());

  it("the app's parser receives every chunk of /compare-stream, and a follow-up with conversation_history works", async () => {
    const body = {
      input_data: 'Explain streaming in one paragraph.',
      models: COMPAREAI_MODELS,
      tier: 'standard',
      browser_fingerprint: 'eyJ1c2VyQWdlbnQiOiJ0ZXN0In0=',
      conversation_history: [],
    };
    const app = await readLikeCompareAiApp(`${server.url}/compare-stream`, body);
    expect(app.status).toBe(200);
    expect(app.parseErrors).toEqual([]);
    const comparisonId = app.events[0].comparison_id;
    const texts: Record<string, string> = {};
    for (const e of app.events) if (e.type === 'chunk') texts[e.model] = (texts[e.model] ?? '') + e.content;
    // Keyed by the ids the app sent, every character the models produced.
    expect(texts).toEqual(await storedTexts(server.url, comparisonId));
    expect(Object.keys(texts).sort()).toEqual([...COMPAREAI_MODELS].sort());
    expect(
      app.events
        .filter((e) => e.type === 'start')
        .map((e) => e.model)
        .sort(),
    ).toEqual([...COMPAREAI_MODELS].sort());
    expect(app.events.filter((e) => e.type === 'done').every((e) => e.error === false)).toBe(true);
    expect(app.events.at(-1)).toMatchObject({ type: 'complete', metadata: { models_requested: 3, models_successful: 3, models_failed: 0 } });
    // What it skipped is position frames and comments, never an event's data.
    expect(app.skipped.every((m) => /^event: position\nid: \S+\ndata: \{"type":"position"\}(\nretry: \d+)?$/.test(m) || m.startsWith(':'))).toBe(true);
    expect(seen.at(-1)).toMatchObject({ fingerprint: 'eyJ1c2VyQWdlbnQiOiJ0ZXN0In0=', models: COMPAREAI_MODELS });

    // Re-sent with Last-Event-ID (a resume), the app's parser still reads every frame: the recovery answer too.
    const sixth = app.skipped.filter((m) => m.startsWith('event: position'))[5]!.match(/^id: (.+)$/m)![1]!;
    expect(sixth).toMatch(new RegExp(`^comparison:${comparisonId}:`));
    const resumed = await readLikeCompareAiApp(`${server.url}/compare-stream`, body, {
      headers: { 'Content-Type': 'application/json', 'Last-Event-ID': sixth },
    });
    expect(resumed.parseErrors).toEqual([]);
    expect(resumed.events[0]).toMatchObject({ type: 'recovery', recovered: true });
    expect(resumed.events.at(-1)).toMatchObject({ type: 'complete' });

    // The follow-up as the app sends it: history with model_id on assistant turns, its own numeric conversation id.
    const model = COMPAREAI_MODELS[1]!;
    const followUp = await readLikeCompareAiApp(`${server.url}/api/compare-stream`, {
      input_data: 'Shorter, please.',
      models: [model],
      tier: 'standard',
      browser_fingerprint: 'fp',
      conversation_history: [
        { role: 'user', content: body.input_data },
        { role: 'assistant', content: texts[model], model_id: model },
      ],
    });
    expect(followUp.parseErrors).toEqual([]);
    expect(followUp.events.at(-1)).toMatchObject({ type: 'complete', metadata: { models_successful: 1 } });
    expect(seen.at(-1)!.history).toEqual([
      { role: 'user', content: body.input_data, modelId: null },
      { role: 'assistant', content: texts[model], modelId: model },
    ]);
  });

  it('test_streaming.py and test_concurrent_streaming.py: events parse, models start together, chunks interleave (CONCURRENT)', async () => {
    const single = await readLikeCompareAiScript(`${server.url}/compare-stream`, {
      input_data: 'Write a haiku about streaming AI responses',
      models: [COMPAREAI_MODELS[0]],
      tier: 'standard',
      browser_fingerprint: 'test-script-fingerprint',
    });
    expect(single.status).toBe(200);
    expect(single.jsonErrors).toBe(0);
    expect(single.events.filter((e) => e.data.type === 'chunk').length).toBeGreaterThan(5);
    expect(single.events.some((e) => e.data.type === 'error')).toBe(false);
    // Every `data:` line is JSON of a type the scripts handle or pass over (position frames carry ids).
    expect(new Set(single.events.map((e) => e.data.type))).toEqual(new Set(['comparison', 'position', 'start', 'chunk', 'done', 'complete']));
    expect(single.events.find((e) => e.data.type === 'complete')!.data).toMatchObject({ metadata: { models_successful: 1, models_failed: 0 } });

    const run = await readLikeCompareAiScript(`${server.url}/compare-stream`, {
      input_data: 'Explain the concept of concurrent programming in one short paragraph.',
      models: COMPAREAI_MODELS,
      tier: 'standard',
      browser_fingerprint: 'test-concurrent-script',
    });
    expect(run.jsonErrors).toBe(0);
    const starts = run.events.filter((e) => e.data.type === 'start').map((e) => e.t);
    const chunks = run.events.filter((e) => e.data.type === 'chunk');
    expect(starts).toHaveLength(3);
    expect(Math.max(...starts) - Math.min(...starts)).toBeLessThan(0.5);
    expect(chunks.length).toBeGreaterThan(10);
    expect(new Set(chunks.slice(0, 20).map((e) => e.data.model)).size).toBeGreaterThan(1);
  });

  it('test_rate_limiting.py: /compare with no tier and a null fingerprint answers the seed shape', async () => {
    for (const browser_fingerprint of ['test_fingerprint_12345', null]) {
      const res = await fetch(`${server.url}/compare`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ input_data: `Test request at ${new Date().toISOString()}`, models: ['openai/gpt-3.5-turbo'], browser_fingerprint }),
      });
      expect(res.status).toBe(200);
      const json = await res.json();
      expect(Object.keys(json.results)).toEqual(['openai/gpt-3.5-turbo']);
      expect(json.metadata).toMatchObject({ models_requested: 1, models_successful: 1 });
      expect(seen.at(-1)!.fingerprint).toBe(browser_fingerprint ?? undefined);
    }
  });

  it('ignores fields it does not know on seed routes (bodies and queries); /v1 stays strict', async () => {
    const extra = { client_version: '2.1', is_follow_up: false, request_id: 42, nested: { a: 1 } };
    const compare = await fetch(`${server.url}/compare`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        input_data: 'Hi',
        models: ['demo/fast'],
        ...extra,
        conversation_history: [{ role: 'user', content: 'Hi', id: 'm1', timestamp: '2025-01-01T00:00:00Z' }],
      }),
    });
    expect(compare.status).toBe(200);
    const chat = await fetch(`${server.url}/chat`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ query: 'Hi', model: 'demo/fast', ...extra }),
    });
    expect((await chat.json()).error).toBe(false);
    const stream = await fetch(`${server.url}/chat-stream?query=hi&model=demo/fast&_=1700000000`);
    expect(stream.status).toBe(200);
    await stream.text();
    const native = await fetch(`${server.url}/v1/comparisons`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompt: 'Hi', models: ['demo/fast'], browser_fingerprint: 'x' }),
    });
    expect(native.status).toBe(400);
    expect(await native.json()).toEqual({ code: 'unknown_field', message: 'Unknown field in body: browser_fingerprint.', fields: ['browser_fingerprint'] });
  });

  it("errors on seed routes carry FastAPI's detail next to code and message", async () => {
    const res = await fetch(`${server.url}/compare-stream`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ input_data: 'x'.repeat(1_001), models: ['demo/fast'], tier: 'brief' }),
    });
    expect(res.status).toBe(400);
    const json = await res.json();
    expect(json).toMatchObject({
      code: 'input_too_long',
      message: 'The brief tier accepts 1000 characters; got 1001.',
      detail: 'The brief tier accepts 1000 characters; got 1001.',
    });
    // What the app shows: `errorData.detail`, not "HTTP error! status: 400".
    const bad = await fetch(`${server.url}/api/compare`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"input_data":' });
    expect(await bad.json()).toMatchObject({ code: 'invalid_json', detail: expect.stringMatching(/not valid JSON/) });
  });
});

describe('seed 002 paths: /api/v2/bali-zero/chat and /chat-stream', () => {
  let on: TestServer;
  let off: TestServer;
  beforeAll(async () => {
    on = await startServer({ demo: { speed: 20 } });
    off = await startServer({ demo: { speed: 20 } }, { env: { ENABLE_SSE_STREAMING: 'false' } });
  });
  afterAll(async () => {
    await on.close();
    await off.close();
  });

  it('streams with GET ?query= and POST when the flag is on, as /chat-stream does', async () => {
    const get = await readLikeCompareAiApp(`${on.url}/api/v2/bali-zero/chat-stream?query=${encodeURIComponent('Hello there')}&model=demo/fast`, undefined, {
      method: 'GET',
      body: null,
      headers: {},
    });
    expect(get.status).toBe(200);
    expect(get.parseErrors).toEqual([]);
    const text = get.events
      .filter((e) => e.type === 'chunk')
      .map((e) => e.content)
      .join('');
    expect(text.length).toBeGreaterThan(20);
    expect(text).toBe(Object.values(await storedTexts(on.url, get.events[0].comparison_id))[0]);
    const post = await readLikeCompareAiApp(`${on.url}/api/v2/bali-zero/chat-stream`, { query: 'Hello there', model: 'demo/fast' });
    expect(
      post.events
        .filter((e) => e.type === 'chunk')
        .map((e) => e.content)
        .join(''),
    ).toBe(text);
    expect(post.events.at(-1)).toMatchObject({ type: 'complete' });
  });

  it('is 403 feature_flag_disabled with the flag off, while /api/v2/bali-zero/chat keeps working', async () => {
    for (const init of [{ method: 'GET' }, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"query":"Hi"}' }]) {
      const res = await fetch(`${off.url}/api/v2/bali-zero/chat-stream${init.method === 'GET' ? '?query=Hi' : ''}`, init);
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ code: 'feature_flag_disabled', flag: 'sse_streaming', detail: expect.stringContaining('ENABLE_SSE_STREAMING') });
    }
    const post = await (
      await fetch(`${off.url}/api/v2/bali-zero/chat`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{"query":"Hi","model":"demo/fast"}',
      })
    ).json();
    expect(post).toMatchObject({ error: false, model: 'demo/fast', response: expect.any(String) });
    const get = await (await fetch(`${off.url}/api/v2/bali-zero/chat?query=Hi&model=demo/fast`)).json();
    expect(get.response).toBe(post.response);
  });
});

describe('the eventsource package resumes a seed stream by Last-Event-ID', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ demo: { speed: 12 }, streams: { sseRetryMs: 50 } });
  });
  afterAll(() => server.close());

  it('through a network that cuts the stream mid-event, the text equals the stored answer with nothing twice', async () => {
    // Cut the first connection inside the data frame that follows the 8th position frame.
    const proxy = await cuttingProxy(
      server.url,
      () => undefined,
      (n, response) => {
        if (n !== 0) return undefined;
        const ends = [...response.matchAll(/\nid: [^\n]+\ndata: \{"type":"position"\}\n(?:retry: \d+\n)?\n/g)];
        return ends.length >= 8 ? ends[7]!.index! + ends[7]![0].length + 20 : undefined;
      },
    );
    try {
      const chunks: string[] = [];
      let comparisonId = '';
      let recovery: any;
      await new Promise<void>((resolve, reject) => {
        const es = new EventSource(`${proxy.url}/api/v2/bali-zero/chat-stream?query=${encodeURIComponent('Describe a lighthouse.')}&model=demo/fast`);
        const timer = setTimeout(() => {
          es.close();
          reject(new Error('no end'));
        }, 20_000);
        es.onmessage = (e) => {
          const d = JSON.parse(e.data);
          if (d.type === 'comparison') comparisonId = d.comparison_id;
          if (d.type === 'recovery') recovery = d;
          if (d.type === 'chunk') chunks.push(d.content);
          if (d.type === 'complete') {
            clearTimeout(timer);
            es.close();
            resolve();
          }
        };
      });
      expect(proxy.requests).toHaveLength(2);
      expect(proxy.requests[1]).toMatch(new RegExp(`last-event-id: comparison:${comparisonId}:`, 'i'));
      expect(recovery).toMatchObject({ recovered: true });
      expect(chunks.join('')).toBe(Object.values(await storedTexts(server.url, comparisonId))[0]);
    } finally {
      await proxy.close();
    }
  });
});
