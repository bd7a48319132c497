import { validate } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLISH_KEY } from './support/realtime.js';
import { startServer, type TestServer } from './support/server.js';

type Doc = { openapi: string; paths: Record<string, Record<string, Operation>> };
type Operation = {
  summary?: string;
  requestBody?: { content: Record<string, { schema: object }> };
  parameters?: { name: string; in: string }[];
  responses: Record<string, { content?: Record<string, { schema: any }> }>;
};

/** Fastify's routes as [METHOD, path] from its route tree (printRoutes without common prefixes: a child's segment extends its parent's). */
function registeredRoutes(tree: string): [string, string][] {
  const routes: [string, string][] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:[│ ] {3})*)(?:[├└]── )?(\S+)(?: \(([^)]*)\))?$/.exec(line.trimEnd());
    if (!m || !line.trim()) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const path = (stack[depth - 1] ?? '') + m[2]!;
    stack[depth] = path;
    for (const method of m[3]?.split(', ') ?? []) routes.push([method, path]);
  }
  return routes;
}

/** Pages that are not API: the docs UI itself and the web app's files. */
const isPage = (path: string) =>
  path.startsWith('/docs') || path === '/' || path === '/index.html' || path.startsWith('/assets/') || /^\/[^/]+\.(svg|png|ico|txt|webmanifest)$/.test(path);

describe('OpenAPI document generated from the route schemas', () => {
  let server: TestServer;
  let doc: Doc;
  beforeAll(async () => {
    server = await startServer({ demo: { speed: 50 }, realtime: { publishKey: PUBLISH_KEY } });
    const res = await fetch(`${server.url}/openapi.json`);
    expect(res.status).toBe(200);
    doc = (await res.json()) as Doc;
  });
  afterAll(() => server.close());

  it('is valid OpenAPI 3.1', async () => {
    expect(doc.openapi).toBe('3.1.0');
    await expect(validate(structuredClone(doc) as never)).resolves.toMatchObject({ valid: true });
  });

  it('lists every route Fastify serves, and no route it does not', () => {
    const routes = registeredRoutes(server.app.fastify.printRoutes({ commonPrefix: false }))
      // HEAD is Fastify's automatic twin of GET; OPTIONS is the CORS preflight on every path.
      .filter(([method, path]) => method !== 'HEAD' && method !== 'OPTIONS' && !isPage(path));
    expect(routes.length).toBeGreaterThan(50);
    const missing = routes.filter(([method, path]) => !doc.paths[path.replace(/:(\w+)/g, '{$1}')]?.[method.toLowerCase()]);
    expect(missing).toEqual([]);
    // A route without `api()` still shows up bare (the generator lists every route): each must have been declared.
    const undeclared = routes.filter(([method, path]) => !doc.paths[path.replace(/:(\w+)/g, '{$1}')]![method.toLowerCase()]!.summary);
    expect(undeclared).toEqual([]);
    const served = new Set(routes.map(([method, path]) => `${method.toLowerCase()} ${path.replace(/:(\w+)/g, '{$1}')}`));
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
    // The seed WebSocket is an upgrade of the HTTP server, not a Fastify route.
    expect(documented.filter((op) => !served.has(op))).toEqual(['get /v2/realtime/stream']);
    // The three families the issue names are all there.
    for (const path of [
      '/v1/comparisons',
      '/compare',
      '/compare-stream',
      '/chat',
      '/chat-stream',
      '/api/v2/bali-zero/chat',
      '/api/v2/bali-zero/chat-stream',
      '/v2/realtime/metrics',
      '/v1/chat/completions',
      '/v1/responses',
      '/v1/models',
    ]) {
      expect(doc.paths[path], path).toBeDefined();
    }
  });

  it('documents error codes from the catalogue in each error shape', () => {
    const notFound = doc.paths['/v1/comparisons/{id}']!.get!.responses['404']!.content!['application/json']!.schema;
    expect(notFound.properties.code.enum).toEqual(['comparison_not_found']);
    const shape = doc.paths['/v1/comparisons']!.post!.responses['400']!.content!['application/json']!.schema;
    expect(shape.properties.code.enum).toEqual(expect.arrayContaining(['unknown_field', 'invalid_field', 'invalid_json', 'invalid_model']));
    expect(doc.paths['/compare']!.post!.responses['400']!.content!['application/json']!.schema.properties.detail).toBeDefined();
    const openai = doc.paths['/v1/chat/completions']!.post!.responses['400']!.content!['application/json']!.schema;
    expect(openai.properties.error.properties.code.enum).toContain('unsupported_parameter');
    expect(doc.paths['/chat-stream']!.post!.responses['403']!.content!['application/json']!.schema.properties.code.enum).toEqual(['feature_flag_disabled']);
  });

  /** The document's schema and the live route agree on every body: accepted by one iff not refused as malformed by the other. */
  describe('request schemas are the ones that validate', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: false });
    addFormats.default(ajv);
    const cases: { method: string; path: string; headers?: Record<string, string>; bodies: unknown[] }[] = [
      {
        method: 'POST',
        path: '/v1/comparisons',
        bodies: [
          { prompt: 'Hi', models: ['demo/fast'] },
          { prompt: 'Hi', models: ['demo/fast'], tier: 'brief', history: [{ role: 'user', content: 'a', model: null }] },
          { prompt: 'Hi', models: ['demo/fast'], extra: 1 },
          { prompt: 5, models: ['demo/fast'] },
          { prompt: 'Hi', models: [] },
          { prompt: 'Hi', models: ['demo/fast'], tier: 'huge' },
          { prompt: 'Hi', models: ['demo/fast'], history: [{ role: 'system', content: 'a' }] },
          { models: ['demo/fast'] },
        ],
      },
      {
        // Seed routes are lenient: unknown fields are dropped, not refused.
        method: 'POST',
        path: '/compare',
        bodies: [
          { input_data: 'Hi', models: ['demo/fast'] },
          { input_data: 'Hi', models: ['demo/fast'], something_of_theirs: true, conversation_id: 42 },
          { input_data: 'Hi', models: ['demo/fast'], conversation_id: 4.5 },
          { input_data: 'Hi', models: 'demo/fast' },
          { input_data: 'Hi', models: ['demo/fast'], conversation_history: null, browser_fingerprint: null },
          { input_data: null, models: ['demo/fast'] },
        ],
      },
      {
        method: 'POST',
        path: '/v1/chat/completions',
        bodies: [
          { model: 'demo/fast', messages: [{ role: 'user', content: 'Hi' }] },
          { model: 'demo/fast', messages: [] },
          { model: 'demo/fast', messages: [{ role: 'user', content: 'Hi' }], stream: 'yes' },
          { model: 'demo/fast', messages: [{ role: 'user', content: 'Hi' }], not_openai: 1 },
          { model: '', messages: [{ role: 'user', content: 'Hi' }] },
        ],
      },
      {
        method: 'POST',
        path: '/v1/publish',
        headers: { authorization: `Bearer ${PUBLISH_KEY}` },
        bodies: [
          { channel: 'news', data: { a: 1 } },
          {
            events: [
              { channel: 'news', data: 1 },
              { channel: 'news', type: 'x', data: null },
            ],
          },
          { events: [] },
          { channel: 'news', data: 1, extra: true },
          { channel: 7, data: 1 },
        ],
      },
      {
        method: 'POST',
        path: '/v1/auth/login',
        bodies: [
          { email: 'nobody@example.com', password: 'x' },
          { email: 'nobody@example.com', password: 'x', session: 'cookie' },
          { email: 'nobody@example.com', password: 'x', session: 'jar' },
          { email: 'no', password: 'x' },
          { email: 'nobody@example.com' },
        ],
      },
    ];

    for (const { method, path, headers, bodies } of cases) {
      it(`${method} ${path}`, async () => {
        const schema = doc.paths[path]![method.toLowerCase()]!.requestBody!.content['application/json']!.schema;
        const check = ajv.compile(schema);
        const verdicts = { accepted: 0, refused: 0 };
        for (const body of bodies) {
          const res = await fetch(`${server.url}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
          const text = await res.text();
          const refusedLive = res.status === 400 && /"(invalid_field|unknown_field)"/.test(text);
          expect({ body, refused: !check(body) }).toEqual({ body, refused: refusedLive });
          verdicts[refusedLive ? 'refused' : 'accepted']++;
        }
        // Each case has bodies of both kinds, so the comparison can fail both ways.
        expect(verdicts.accepted).toBeGreaterThan(0);
        expect(verdicts.refused).toBeGreaterThan(0);
      });
    }

    it('GET /v1/comparisons query: a limit out of range is refused by both', async () => {
      const param = doc.paths['/v1/comparisons']!.get!.parameters!.find((p) => p.name === 'limit') as unknown as { schema: object };
      const check = ajv.compile(param.schema);
      for (const [raw, value] of [
        ['10', 10],
        ['0', 0],
        ['500', 500],
      ] as const) {
        const res = await fetch(`${server.url}/v1/comparisons?limit=${raw}`);
        await res.arrayBuffer();
        expect({ raw, refused: res.status === 400 }).toEqual({ raw, refused: !check(value) });
      }
    });
  });

  it('serves the docs page offline from npm assets, under its own CSP', async () => {
    const page = await fetch(`${server.url}/docs`);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain('swagger-ui');
    expect(html).not.toMatch(/https?:\/\/(?!localhost)[^"']*\.(js|css)/); // no CDN
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).not.toContain('https:');
    const init = await fetch(`${server.url}/docs/static/swagger-initializer.js`);
    expect(await init.text()).toContain('./json');
    const spec = await fetch(`${server.url}/docs/json`);
    expect(((await spec.json()) as Doc).paths['/v1/comparisons']).toBeDefined();
  });
});
