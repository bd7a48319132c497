import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { PUBLISH_KEY } from './support/realtime.js';
import { startServer, type TestServer } from './support/server.js';

const APP = 'http://app.example:5173';

/** Reads a response's headers and drops its body (streams end on their own: demo models are fast here). */
async function headersOf(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  return { status: res.status, headers: res.headers };
}

const post = (body: unknown, origin = APP): RequestInit => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json', Origin: origin },
  body: JSON.stringify(body),
});

describe('CORS for configured origins', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer(
      { demo: { speed: 20 }, realtime: { publishKey: PUBLISH_KEY } },
      { env: { TRIBUTARY_CORS_ORIGINS: `${APP}, https://admin.example` } },
    );
  });
  afterAll(() => server.close());

  it('answers a preflight for the stream routes with the methods and the headers asked for', async () => {
    const res = await fetch(`${server.url}/compare-stream`, {
      method: 'OPTIONS',
      headers: { Origin: APP, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,last-event-id' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, HEAD, POST, DELETE');
    expect(res.headers.get('access-control-allow-headers')).toBe('content-type,last-event-id');
    expect(res.headers.get('access-control-max-age')).toBe('600');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    // Another origin gets no grant (the browser then refuses the request).
    const other = await fetch(`${server.url}/compare-stream`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
    });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('puts the grant on JSON answers, errors, and every streaming response written past Fastify', async () => {
    const { body } = { body: { input_data: 'Hi', models: ['demo/fast'] } };
    const cases: [string, RequestInit][] = [
      ['/models', { headers: { Origin: APP } }],
      ['/compare', post(body)],
      ['/compare', post({ input_data: '' })], // a 400
      ['/compare-stream', post(body)],
      ['/api/v2/bali-zero/chat-stream?query=Hi&model=demo/fast', { headers: { Origin: APP } }],
      ['/v1/chat/completions', post({ model: 'demo/fast', stream: true, messages: [{ role: 'user', content: 'Hi' }] })],
      ['/v1/poll?channels=public:x&timeoutMs=0', { headers: { Origin: APP } }],
    ];
    for (const [path, init] of cases) {
      const { status, headers } = await headersOf(`${server.url}${path}`, init);
      expect({ path, status: status < 500, origin: headers.get('access-control-allow-origin'), vary: headers.get('vary') }).toEqual({
        path,
        status: true,
        origin: APP,
        vary: expect.stringMatching(/origin/i),
      });
    }
    const stream = await headersOf(`${server.url}/compare-stream`, post(body));
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(stream.headers.get('access-control-expose-headers')).toBe('X-Comparison-Id, X-Conversation-Id, Retry-After');
    // The realtime SSE subscription is hijacked too: read its headers, then leave.
    const controller = new AbortController();
    const sub = await fetch(`${server.url}/v1/subscribe?channels=public:x`, { headers: { Origin: APP }, signal: controller.signal });
    expect(sub.headers.get('access-control-allow-origin')).toBe(APP);
    controller.abort();
  });
});

describe('CORS defaults and settings', () => {
  it('is same-origin by default: no CORS headers, and a preflight finds no route', async () => {
    const server = await startServer();
    try {
      const models = await headersOf(`${server.url}/models`, { headers: { Origin: APP } });
      expect(models.headers.get('access-control-allow-origin')).toBeNull();
      const preflight = await fetch(`${server.url}/compare-stream`, { method: 'OPTIONS', headers: { Origin: APP, 'Access-Control-Request-Method': 'POST' } });
      expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
      expect((await preflight.json()).code).toBe('not_found');
    } finally {
      await server.close();
    }
  });

  it('* grants any origin without credentials; listed origins may have credentials', async () => {
    const any = await startServer({ server: { cors: { origins: ['*'] } } });
    const withCredentials = await startServer({}, { env: { TRIBUTARY_CORS_ORIGINS: APP, TRIBUTARY_CORS_CREDENTIALS: 'true' } });
    try {
      expect((await headersOf(`${any.url}/models`, { headers: { Origin: 'https://anyone.example' } })).headers.get('access-control-allow-origin')).toBe('*');
      const granted = (await headersOf(`${withCredentials.url}/models`, { headers: { Origin: APP } })).headers;
      expect(granted.get('access-control-allow-origin')).toBe(APP);
      expect(granted.get('access-control-allow-credentials')).toBe('true');
    } finally {
      await any.close();
      await withCredentials.close();
    }
  });

  it('refuses * with credentials, and an origin with a path, at config validation', () => {
    expect(() => loadConfig({ env: { TRIBUTARY_CORS_ORIGINS: '*', TRIBUTARY_CORS_CREDENTIALS: 'true' } })).toThrow(
      /server\.cors\.origins: origins "\*" cannot be combined with credentials/,
    );
    expect(() => loadConfig({ env: { TRIBUTARY_CORS_ORIGINS: 'https://app.example/path' } })).toThrow(/server\.cors\.origins\.0: must be an origin/);
    expect(loadConfig({ env: { TRIBUTARY_CORS_ORIGINS: ' https://a.example ,https://b.example:8443,' } }).server.cors.origins).toEqual([
      'https://a.example',
      'https://b.example:8443',
    ]);
  });
});
