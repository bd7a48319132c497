import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMocks } from './support/mock-providers.js';
import { startServer, type TestServer } from './support/server.js';
import { sseRequest, type TimedMessage } from './support/sse-client.js';
import { ANSWER_PIECES, MOCK_INPUT_TOKENS } from './support/wire-formats.js';

const ANSWER = ANSWER_PIECES.join('');
const textOf = (messages: TimedMessage[], model: string) =>
  messages
    .filter((m) => m.event === 'model.delta' && m.json.model === model)
    .map((m) => m.json.text)
    .join('');
const endOf = (messages: TimedMessage[], model: string) =>
  messages.find((m) => (m.event === 'model.done' || m.event === 'model.error') && m.json.model === model)?.json;

/** A streamed chat completion's text and its error code (from the HTTP status body or an error event), if any. */
async function gatewayStream(url: string, model: string): Promise<{ code: string | undefined; text: string }> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Fail in every way.' }], stream: true }),
  });
  const body = await res.text();
  if (res.status !== 200) return { code: JSON.parse(body).error.code, text: '' };
  let text = '';
  let code: string | undefined;
  for (const frame of body.split('\n\n').filter(Boolean)) {
    if (frame === 'data: [DONE]') continue;
    const json = JSON.parse(frame.slice('data: '.length));
    if (json.error) code = json.error.code;
    else text += json.choices[0]?.delta.content ?? '';
  }
  return { code, text };
}

describe('real provider dialects against mock upstreams', () => {
  let server: TestServer;
  let mocks: Awaited<ReturnType<typeof startMocks>>;
  beforeAll(async () => {
    mocks = await startMocks({ chunkDelayMs: 15 });
    server = await startServer({ providers: mocks.config, demo: { speed: 4 } });
  });
  afterAll(async () => {
    await server?.close();
    await mocks?.close();
  });

  it('OpenAI-compatible, Anthropic and demo models stream into one comparison concurrently', async () => {
    const models = ['mockai/ok', 'mockant/ok', 'demo/fast'];
    const r = await sseRequest(`${server.url}/v1/comparisons`, { body: { prompt: 'Where do rivers go?', models } });
    expect(r.status).toBe(200);
    for (const model of ['mockai/ok', 'mockant/ok']) {
      expect(textOf(r.messages, model)).toBe(ANSWER);
      expect(endOf(r.messages, model)).toMatchObject({
        status: 'ok',
        finishReason: 'stop',
        usage: { inputTokens: MOCK_INPUT_TOKENS, outputTokens: ANSWER_PIECES.length },
      });
    }
    expect(endOf(r.messages, 'demo/fast')).toMatchObject({ status: 'ok' });
    // Concurrent: every model's first delta arrives before any model has finished.
    const firstDelta = (model: string) => r.messages.findIndex((m) => m.event === 'model.delta' && m.json.model === model);
    const firstEnd = r.messages.findIndex((m) => m.event === 'model.done');
    for (const model of models) expect(firstDelta(model)).toBeGreaterThan(-1);
    expect(Math.max(...models.map(firstDelta))).toBeLessThan(firstEnd);

    // What the upstreams were sent: each dialect's own request shape.
    const oa = mocks.openai.exchanges.find((e) => e.model === 'ok')!;
    expect(oa.body).toMatchObject({
      model: 'ok',
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 4000,
      messages: [{ role: 'user', content: 'Where do rivers go?' }],
    });
    const an = mocks.anthropic.exchanges.find((e) => e.model === 'ok')!;
    expect(an.body).toMatchObject({ model: 'ok', stream: true, max_tokens: 4000, messages: [{ role: 'user', content: 'Where do rivers go?' }] });
    expect(an.headers['anthropic-version']).toBe('2023-06-01');
  });

  it('finish reasons and reasoning deltas: truncation maps to length; thinking stays out of the answer', async () => {
    const models = ['mockai/trunc', 'mockant/trunc', 'mockai/think', 'mockant/think'];
    const r = await sseRequest(`${server.url}/v1/comparisons`, { body: { prompt: 'Go on.', models } });
    for (const model of models) expect(textOf(r.messages, model)).toBe(ANSWER);
    expect(endOf(r.messages, 'mockai/trunc')).toMatchObject({ status: 'truncated', finishReason: 'length' });
    expect(endOf(r.messages, 'mockant/trunc')).toMatchObject({ status: 'truncated', finishReason: 'length' });
    expect(endOf(r.messages, 'mockai/think')).toMatchObject({ status: 'ok', finishReason: 'stop' });
  });

  it('system prompts map to each dialect: a message for OpenAI, the top-level field for Anthropic', async () => {
    const history = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
    ];
    await sseRequest(`${server.url}/v1/comparisons`, { body: { prompt: 'More', models: ['mockant/ok'], history } });
    const sent = mocks.anthropic.exchanges.filter((e) => e.model === 'ok').at(-1)!.body;
    expect(sent.messages).toEqual([...history, { role: 'user', content: 'More' }]);
    expect(sent.system).toBeUndefined();
  });

  describe.each(['openai', 'anthropic'] as const)('%s dialect: every upstream failure is classified, the others complete', (dialect) => {
    const p = dialect === 'openai' ? 'mockai' : 'mockant';
    const cases: { model: string; upstream: string; code?: string; retryable?: boolean; retryAfterMs?: number; attempts: number; partial?: boolean }[] = [
      { model: `${p}-badkey/ok`, upstream: 'ok', code: 'auth', retryable: false, attempts: 1 },
      { model: `${p}/e404`, upstream: 'e404', code: 'invalid_model', retryable: false, attempts: 1 },
      { model: `${p}/e429`, upstream: 'e429', code: 'rate_limited', retryable: true, retryAfterMs: 7000, attempts: 1 },
      { model: `${p}/e500`, upstream: 'e500', code: 'upstream_error', retryable: true, attempts: 3 },
      { model: `${p}/hang`, upstream: 'hang', code: 'timeout', retryable: true, attempts: 3 },
      { model: `${p}/stall`, upstream: 'stall', code: 'timeout', attempts: 1, partial: true },
      { model: `${p}/reset`, upstream: 'reset', code: 'network', attempts: 1, partial: true },
      { model: `${p}/malformed`, upstream: 'malformed', code: 'upstream_error', retryable: false, attempts: 1, partial: true },
      { model: `${p}/context`, upstream: 'context', code: 'context_length', retryable: false, attempts: 1 },
      { model: `${p}/e429-once`, upstream: 'e429-once', attempts: 2 },
      { model: `${p}/e500-once`, upstream: 'e500-once', attempts: 2 },
      { model: `${p}/ok`, upstream: 'ok', attempts: 1 },
    ];

    it('per-model errors with retryable and retry_after; retries only where allowed, counted on the mock', async () => {
      const mock = mocks[dialect];
      const before = new Map(cases.map((c) => [c.upstream, mock.count(c.upstream)]));
      const r = await sseRequest(`${server.url}/v1/comparisons`, { body: { prompt: 'Fail in every way.', models: cases.map((c) => c.model) } });
      expect(r.messages.at(-1)!.event).toBe('comparison.done');
      for (const c of cases) {
        const end = endOf(r.messages, c.model);
        if (!c.code) {
          expect(end, c.model).toMatchObject({ status: 'ok', finishReason: 'stop' });
          expect(textOf(r.messages, c.model)).toBe(ANSWER);
        } else {
          expect(end, c.model).toMatchObject({ status: 'failed', error: { code: c.code } });
          if (c.retryable !== undefined) expect(end.error.retryable, c.model).toBe(c.retryable);
          if (c.retryAfterMs !== undefined) expect(end.error.retryAfterMs).toBe(c.retryAfterMs);
          expect(textOf(r.messages, c.model), c.model).toBe(c.partial ? ANSWER_PIECES.slice(0, 3).join('') : '');
        }
      }
      // The badkey twin shares the upstream id 'ok' with the good provider: count per exchange key.
      const attempts = (c: (typeof cases)[number]) => mock.count(c.upstream) - before.get(c.upstream)!;
      for (const c of cases.filter((c) => c.upstream !== 'ok')) expect(attempts(c), c.model).toBe(c.attempts);
      expect(attempts(cases.find((c) => c.upstream === 'ok')!)).toBe(2); // one with the wrong key, one with the right
      const summary = r.messages.at(-1)!.json.summary;
      expect(summary).toMatchObject({ modelsRequested: cases.length, modelsSuccessful: 3, modelsFailed: 9 });
    });

    // The gateway relays pushed reads (`Provider.relay`), not the comparison's iterator: the same classification and retries.
    it('the same failures through /v1/chat/completions: codes, partial text and retries as above', async () => {
      const mock = mocks[dialect];
      const before = new Map(cases.map((c) => [c.upstream, mock.count(c.upstream)]));
      const outcomes = await Promise.all(cases.map((c) => gatewayStream(server.url, c.model)));
      cases.forEach((c, i) => {
        const { code, text } = outcomes[i]!;
        expect(code, c.model).toBe(c.code);
        expect(text, c.model).toBe(!c.code ? ANSWER : c.partial ? ANSWER_PIECES.slice(0, 3).join('') : '');
      });
      const attempts = (c: (typeof cases)[number]) => mock.count(c.upstream) - before.get(c.upstream)!;
      // The mock fails the `-once` models on their first request only, which the test above took.
      for (const c of cases.filter((c) => c.upstream !== 'ok')) expect(attempts(c), c.model).toBe(c.upstream.endsWith('-once') ? 1 : c.attempts);
      expect(attempts(cases.find((c) => c.upstream === 'ok')!)).toBe(2);
    });
  });

  it('an unknown model is rejected before any upstream call', async () => {
    const total = () => mocks.openai.exchanges.length + mocks.anthropic.exchanges.length;
    const before = total();
    const r = await sseRequest(`${server.url}/v1/comparisons`, { body: { prompt: 'Hi', models: ['mockai/not-configured', 'nosuch/model'] } });
    expect(endOf(r.messages, 'mockai/not-configured')).toMatchObject({ status: 'failed', error: { code: 'invalid_model' } });
    expect(endOf(r.messages, 'nosuch/model')).toMatchObject({ status: 'failed', error: { code: 'invalid_model' } });
    expect(total()).toBe(before);
  });
});
