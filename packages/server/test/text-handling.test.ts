import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedText } from '../src/store/text.js';
import { allItems, createJob, FAST_JOBS, waitForJob } from './support/jobs.js';
import { mockProviderConfig } from './support/mock-providers.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';
import { TEST_DATABASE_URL, dropSchema, postgresAvailable, randomSchema } from './support/postgres.js';
import { startServer, type TestServer } from './support/server.js';

/**
 * NUL and lone surrogates: refused with the same coded 400 on both databases wherever a client
 * sends text to be stored (PostgreSQL cannot store NUL, UTF-8 has no lone surrogate), and text
 * from elsewhere (provider output) is stored as U+FFFD identically on both.
 */
const pgUp = await postgresAvailable();
const schema = randomSchema();
const backends = [{ name: 'sqlite', config: {} }, ...(pgUp ? [{ name: 'postgres', config: { database: { url: TEST_DATABASE_URL, schema } } }] : [])];

/** JSON text with escapes, so the body carries exactly the code units meant (a lone surrogate survives). */
const raw = (value: string) => JSON.stringify(value).replace(/[\u0000\ud800-\udfff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

describe.each(backends)('text on $name', ({ config }) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer(config);
  });
  afterAll(async () => {
    await server.close();
    if (pgUp) await dropSchema(schema).catch(() => undefined);
  });

  const post = (path: string, body: string) => fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  const cases: [string, string, (text: string) => string, string][] = [
    ['/compare prompt', '/compare', (t) => `{"input_data":${raw(t)},"models":["demo/fast"]}`, 'prompt'],
    [
      '/compare history',
      '/compare',
      (t) => `{"input_data":"hi","models":["demo/fast"],"conversation_history":[{"role":"user","content":${raw(t)}}]}`,
      'history[0].content',
    ],
    ['/v1/comparisons prompt', '/v1/comparisons', (t) => `{"prompt":${raw(t)},"models":["demo/fast"]}`, 'prompt'],
    ['/chat query', '/chat', (t) => `{"query":${raw(t)}}`, 'prompt'],
  ];
  for (const [what, path, body, field] of cases) {
    for (const [problem, text] of [
      ['nul', 'a\u0000b'],
      ['lone_surrogate', 'a\ud800b'],
      ['lone_surrogate', 'a\udc00'],
    ] as const) {
      it(`${what} with ${JSON.stringify(text)} → 400 invalid_text`, async () => {
        const res = await post(path, body(text));
        expect(res.status).toBe(400);
        expect(await res.json()).toMatchObject({ code: 'invalid_text', field, problem });
      });
    }
  }

  it('a valid surrogate pair (emoji) is stored and returned exactly', async () => {
    const prompt = 'Rivers 🌊 and 𝄞 music';
    const res = await post('/compare', `{"input_data":${raw(prompt)},"models":["demo/fast"]}`);
    expect(res.status).toBe(200);
    const { comparison_id } = await res.json();
    const conversation = await (await fetch(`${server.url}/v1/comparisons/${comparison_id}`)).json();
    const stored = await server.app.ctx.store.getComparison(comparison_id);
    expect(stored?.prompt).toBe(prompt);
    expect(conversation.status).toBe('completed');
  });
});

describe.each(backends)('provider text in a job on $name', ({ name, config }) => {
  let server: TestServer;
  let mock: MockUpstream;
  const jobSchema = randomSchema();
  beforeAll(async () => {
    mock = await startMockUpstream('openai');
    const database = name === 'postgres' ? { database: { url: TEST_DATABASE_URL, schema: jobSchema } } : config;
    server = await startServer({ ...database, providers: mockProviderConfig('openai', mock), jobs: FAST_JOBS });
  });
  afterAll(async () => {
    await server.close();
    await mock.close();
    if (name === 'postgres') await dropSchema(jobSchema).catch(() => undefined);
  });

  it('is stored as one text: NUL and a lone surrogate become U+FFFD, a pair split over two pieces survives', async () => {
    const created = await createJob(server.url, { prompts: ['edge'], models: ['mockai/edgetext'] });
    expect(created.status).toBe(201);
    expect((await waitForJob(server.url, created.json.id)).status).toBe('succeeded');
    const [item] = await allItems(server.url, created.json.id);
    expect(item.text).toBe('a\uFFFD 🌊 b\uFFFD');
  });
});

describe('storedText', () => {
  it('turns NUL and lone surrogates into U+FFFD and leaves pairs alone', () => {
    expect(storedText('a\u0000b\ud800c\udc00d🌊')).toBe('a\uFFFDb\uFFFDc\uFFFDd🌊');
    expect(storedText('\ud83c')).toBe('\uFFFD');
  });
});
