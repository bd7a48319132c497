import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './support/server.js';

describe('bad input gets a precise status and code, and the server keeps serving', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ server: { bodyLimitBytes: 64 * 1024 } });
  });
  afterAll(() => server.close());

  const ok = { input_data: 'Hi', models: ['demo/fast'], tier: 'standard' };
  const cases: {
    name: string;
    path?: string;
    method?: string;
    body?: unknown;
    raw?: string;
    headers?: Record<string, string>;
    status: number;
    code: string;
    field?: string;
  }[] = [
    { name: 'malformed JSON', raw: '{"input_data": "Hi",', status: 400, code: 'invalid_json' },
    { name: 'empty JSON body', raw: '', status: 400, code: 'invalid_json' },
    { name: 'a JSON array', raw: '[1,2]', status: 400, code: 'invalid_field' },
    { name: 'wrong-typed field', body: { ...ok, models: 'demo/fast' }, status: 400, code: 'invalid_field', field: 'models' },
    { name: 'missing prompt', body: { models: ['demo/fast'] }, status: 400, code: 'invalid_field', field: 'input_data' },
    { name: 'unknown tier', body: { ...ok, tier: 'huge' }, status: 400, code: 'invalid_field', field: 'tier' },
    { name: 'no models', body: { ...ok, models: [] }, status: 400, code: 'invalid_field', field: 'models' },
    { name: 'empty prompt', body: { ...ok, input_data: '   ' }, status: 400, code: 'empty_prompt' },
    { name: 'too many models', body: { ...ok, models: Array.from({ length: 13 }, (_, i) => `demo/m${i}`) }, status: 400, code: 'too_many_models' },
    { name: 'input over the brief tier', body: { ...ok, tier: 'brief', input_data: 'x'.repeat(1_001) }, status: 400, code: 'input_too_long' },
    { name: 'oversized body', body: { ...ok, input_data: 'x'.repeat(70 * 1024) }, status: 413, code: 'body_too_large' },
    {
      name: 'wrong content type',
      raw: 'input_data=Hi',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      status: 415,
      code: 'unsupported_media_type',
    },
    { name: 'malformed Last-Event-ID', body: ok, headers: { 'Last-Event-ID': 'not-an-id' }, status: 400, code: 'invalid_last_event_id' },
    {
      name: 'Last-Event-ID of another kind of stream',
      body: ok,
      headers: { 'Last-Event-ID': 'org:x:finance:abc:3' },
      status: 400,
      code: 'invalid_last_event_id',
    },
    {
      name: 'Last-Event-ID of an unknown comparison',
      body: ok,
      headers: { 'Last-Event-ID': 'comparison:cmp_nope:abc:3' },
      status: 404,
      code: 'comparison_not_found',
    },
    { name: 'unknown conversation', body: { ...ok, conversation_id: 'cnv_nope' }, status: 404, code: 'conversation_not_found' },
    {
      name: 'bad history role',
      body: { ...ok, conversation_history: [{ role: 'system', content: 'x' }] },
      status: 400,
      code: 'invalid_field',
      field: 'conversation_history.0.role',
    },
    { name: 'chat without query', path: '/chat', body: { model: 'demo/fast' }, status: 400, code: 'invalid_field', field: 'query' },
    { name: 'native stream with an unknown query parameter', path: '/v1/comparisons/cmp_x/stream?foo=1', method: 'GET', status: 400, code: 'unknown_field' },
    {
      name: 'native comparison with a seed field',
      path: '/v1/comparisons',
      body: { prompt: 'Hi', models: ['demo/fast'], input_data: 'x' },
      status: 400,
      code: 'unknown_field',
    },
    { name: 'list with a bad limit', path: '/v1/comparisons?limit=0', method: 'GET', status: 400, code: 'invalid_field', field: 'limit' },
    { name: 'unknown route', path: '/nope', method: 'GET', status: 404, code: 'not_found' },
  ];

  it.each(cases)('$name → $status $code', async ({ path = '/compare-stream', method = 'POST', body, raw, headers, status, code, field }) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { ...(method === 'POST' ? { 'Content-Type': 'application/json' } : {}), ...headers },
      ...(method === 'POST' ? { body: raw ?? JSON.stringify(body) } : {}),
    });
    const json = await res.json();
    expect({ status: res.status, code: json.code }).toEqual({ status, code });
    expect(typeof json.message).toBe('string');
    if (field) expect(json.field).toBe(field);
    // Seed routes also carry FastAPI's `detail` (the human message); native ones do not.
    const seed = !path.startsWith('/v1/') && json.code !== 'not_found';
    expect(json.detail).toBe(seed ? json.message : undefined);
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
  });

  it('/health answers in the seed shape', async () => {
    const body = await (await fetch(`${server.url}/health`)).json();
    expect(body.status).toBe('healthy');
    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(200);
  });
});
