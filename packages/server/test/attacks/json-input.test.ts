import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLISH_KEY, RawWs, startRealtimeServer } from '../support/realtime.js';
import type { TestServer } from '../support/server.js';

/** Oversized, deeply nested and non-JSON bodies: a precise 4xx, never a 500 or a stack overflow. */
describe('attack: hostile JSON bodies and frames', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startRealtimeServer({ input: { maxStringLength: 4_096, maxItems: 1_000 } });
  });
  afterAll(() => server.close());

  const nested = (depth: number, leaf = '1') => '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
  const nestedArrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${PUBLISH_KEY}`, ...headers },
      body,
    });
  const expectCode = async (res: Response, status: number, code: string) => {
    const json = await res.json();
    // The OpenAI-compatible route answers in OpenAI's shape, with our code inside.
    expect({ status: res.status, code: json.code ?? json.error?.code }).toEqual({ status, code });
    return json;
  };

  it('POST /v1/publish with data nested 5,000 levels → 400 too_deep (was 500)', async () => {
    const json = await expectCode(await post('/v1/publish', `{"channel":"public:x","data":${nested(5_000)}}`), 400, 'too_deep');
    expect(json.limit).toBe(64);
  });

  it('nesting of 100,000 arrays on every JSON route → 400 too_deep', async () => {
    for (const path of ['/v1/publish', '/compare', '/compare-stream', '/v1/comparisons', '/chat', '/v1/chat/completions']) {
      await expectCode(await post(path, nestedArrays(100_000)), 400, 'too_deep');
    }
  });

  it('the limit is inclusive: data at depth 63 (64 with the body) is published', async () => {
    const res = await post('/v1/publish', `{"channel":"public:x","data":${nested(63)}}`);
    expect(res.status).toBe(200);
    await expectCode(await post('/v1/publish', `{"channel":"public:x","data":${nested(64)}}`), 400, 'too_deep');
  });

  it('a string over input.maxStringLength → 400 string_too_long; an array over input.maxItems → 400 too_many_elements', async () => {
    await expectCode(await post('/v1/publish', JSON.stringify({ channel: 'public:x', data: 'x'.repeat(5_000) })), 400, 'string_too_long');
    await expectCode(await post('/v1/publish', JSON.stringify({ channel: 'public:x', data: Array(1_001).fill(0) })), 400, 'too_many_elements');
    await expectCode(
      await post('/v1/publish', JSON.stringify({ channel: 'public:x', data: Object.fromEntries(Array.from({ length: 1_001 }, (_, i) => [`k${i}`, i])) })),
      400,
      'too_many_elements',
    );
    expect((await post('/v1/publish', JSON.stringify({ channel: 'public:x', data: Array(1_000).fill(0) }))).status).toBe(200);
  });

  it('an oversized body → 413 body_too_large', async () => {
    await expectCode(await post('/v1/publish', JSON.stringify({ channel: 'public:x', data: 'x'.repeat(2 * 1024 * 1024) })), 413, 'body_too_large');
  });

  it('prototype poisoning keys → 400 invalid_json', async () => {
    await expectCode(await post('/v1/publish', '{"channel":"public:x","data":{"__proto__":{"admin":true}}}'), 400, 'invalid_json');
  });

  it('a text/plain (or any non-JSON) body on a JSON route → 415 unsupported_media_type (was 400)', async () => {
    for (const path of ['/v1/publish', '/compare', '/v1/comparisons', '/v1/chat/completions']) {
      await expectCode(await post(path, '{"channel":"public:x","data":1}', { 'Content-Type': 'text/plain' }), 415, 'unsupported_media_type');
      await expectCode(await post(path, '<x/>', { 'Content-Type': 'application/xml' }), 415, 'unsupported_media_type');
    }
    // JSON with a charset parameter is still JSON.
    expect((await post('/v1/publish', '{"channel":"public:x","data":1}', { 'Content-Type': 'application/json; charset=utf-8' })).status).toBe(200);
  });

  it('native WebSocket: a frame nested 5,000 levels → error too_deep, close 4000; the server keeps serving', async () => {
    const client = await RawWs.native(server.url);
    client.send(`{"type":"subscribe","channel":"public:x","position":${nested(5_000)}}`);
    expect(await client.next((m) => m.type === 'error')).toMatchObject({ code: 'too_deep' });
    expect((await client.closed).code).toBe(4000);
    const again = await RawWs.native(server.url);
    again.send({ type: 'ping', id: 1 });
    expect(await again.next((m) => m.type === 'pong')).toMatchObject({ id: 1 });
    again.close();
  });

  it('seed WebSocket: a deep handshake and a deep later frame → error too_deep, close 4000', async () => {
    const ws = `${server.url.replace(/^http/, 'ws')}/v2/realtime/stream`;
    const first = await RawWs.open(ws);
    first.send(`{"services":["a"],"version":1,"lastSeq":${nested(5_000)}}`);
    expect(await first.next((m) => m.type === 'error')).toMatchObject({ code: 'too_deep' });
    expect((await first.closed).code).toBe(4000);
    const second = await RawWs.open(ws);
    second.send({ services: ['a'], version: 1 });
    await second.next((m) => m.type === 'ack');
    second.send(nestedArrays(5_000));
    expect(await second.next((m) => m.type === 'error')).toMatchObject({ code: 'too_deep' });
    expect((await second.closed).code).toBe(4000);
  });
});

describe('the depth limit is configurable', () => {
  it('TRIBUTARY_MAX_JSON_DEPTH=8: depth 8 passes, 9 is too_deep', async () => {
    const { loadConfig } = await import('../../src/config/load.js');
    expect(loadConfig({ env: { TRIBUTARY_MAX_JSON_DEPTH: '8' } }).input.maxJsonDepth).toBe(8);
    const server = await startRealtimeServer({ input: { maxJsonDepth: 8 } });
    try {
      const body = (depth: number) => `{"channel":"public:x","data":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;
      const post = (b: string) =>
        fetch(`${server.url}/v1/publish`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${PUBLISH_KEY}` }, body: b });
      expect((await post(body(8))).status).toBe(200);
      const res = await post(body(9));
      expect({ status: res.status, body: await res.json() }).toMatchObject({ status: 400, body: { code: 'too_deep', limit: 8 } });
    } finally {
      await server.close();
    }
  });
});
