import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { bareIdProviders } from '../src/llm/build-providers.js';
import { MOCK_KEYS, startMockUpstream, type MockUpstream } from './support/mock-upstream.js';
import { startServer, type TestServer } from './support/server.js';
import { sseRequest } from './support/sse-client.js';

const SONNET = 'anthropic/claude-3.5-sonnet-20241022';
const MINI = 'openai/gpt-4o-mini';

const chatCompletion = (url: string, model: string) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Hi' }] }),
  });

describe('bare OpenRouter ids and aliases, through a mock OpenRouter', () => {
  let openrouter: MockUpstream;
  let server: TestServer;
  beforeAll(async () => {
    openrouter = await startMockUpstream('openai', { listed: [SONNET, MINI] });
    server = await startServer(
      { providers: { openrouter: { baseUrl: openrouter.baseUrl } }, models: { aliases: { sonnet: SONNET, mini: `openrouter/${MINI}` } } },
      {
        env: { OPENROUTER_API_KEY: MOCK_KEYS.openai },
      },
    );
  });
  afterAll(async () => {
    await server.close();
    await openrouter.close();
  });

  it('/compare-stream with the ids CompareAI sends streams both; the upstream receives its own full ids', async () => {
    const r = await sseRequest(`${server.url}/compare-stream`, {
      body: { input_data: 'Hi', models: [SONNET, MINI], tier: 'standard', browser_fingerprint: 'fp' },
    });
    expect(r.status).toBe(200);
    const texts: Record<string, string> = {};
    for (const m of r.messages) if (m.json?.type === 'chunk') texts[m.json.model] = (texts[m.json.model] ?? '') + m.json.content;
    // Events name the models as the client did; the mock's answer arrived whole for each.
    expect(texts).toEqual({ [SONNET]: 'Rivers carry water to the sea — naïve but true 🌊.', [MINI]: 'Rivers carry water to the sea — naïve but true 🌊.' });
    expect(r.messages.at(-1)!.json).toMatchObject({ type: 'complete', metadata: { models_successful: 2, models_failed: 0 } });
    expect((await openrouter.exchange(SONNET)).body).toMatchObject({ model: SONNET, stream: true });
    expect((await openrouter.exchange(MINI)).body.model).toBe(MINI);
    expect(openrouter.exchanges.map((e) => e.model).every((m) => m === SONNET || m === MINI)).toBe(true);
  });

  it('the catalogue resolves bare ids and aliases for /v1/chat/completions too, and still its own prefixed ids', async () => {
    for (const model of [SONNET, 'sonnet', 'mini', `openrouter/${MINI}`]) {
      const before = openrouter.exchanges.length;
      const res = await chatCompletion(server.url, model);
      expect(res.status, model).toBe(200);
      expect((await res.json()).choices[0].message.content).toBe('Rivers carry water to the sea — naïve but true 🌊.');
      expect(openrouter.exchanges.slice(before).map((e) => e.model)).toEqual([model === 'sonnet' || model === SONNET ? SONNET : MINI]);
    }
    const unknown = await chatCompletion(server.url, 'meta-llama/not-listed');
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error.code).toBe('invalid_model');
  });
});

describe('an id two bare-id providers serve is refused, naming both', () => {
  let upstream: MockUpstream;
  let server: TestServer;
  beforeAll(async () => {
    upstream = await startMockUpstream('openai', { listed: [MINI] });
    server = await startServer({
      providers: {
        openrouter: { baseUrl: upstream.baseUrl, apiKey: MOCK_KEYS.openai },
        together: { dialect: 'openai', baseUrl: upstream.baseUrl, apiKey: MOCK_KEYS.openai, bareIds: true },
      },
    });
  });
  afterAll(async () => {
    await server.close();
    await upstream.close();
  });

  it('400 ambiguous_model with the candidates on the seed routes and the gateway; prefixed ids still work', async () => {
    const seed = await fetch(`${server.url}/compare-stream`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ input_data: 'Hi', models: ['demo/fast', MINI] }),
    });
    expect(seed.status).toBe(400);
    const body = await seed.json();
    expect(body).toMatchObject({ code: 'ambiguous_model', model: MINI, candidates: [`openrouter/${MINI}`, `together/${MINI}`] });
    expect(body.detail).toBe(body.message);
    expect(body.message).toContain(`openrouter/${MINI}, together/${MINI}`);
    const gateway = await chatCompletion(server.url, MINI);
    expect(gateway.status).toBe(400);
    expect((await gateway.json()).error).toMatchObject({ code: 'ambiguous_model', type: 'invalid_request_error' });
    expect(upstream.exchanges).toHaveLength(0); // refused before anything started
    expect((await chatCompletion(server.url, `together/${MINI}`)).status).toBe(200);
    expect(upstream.exchanges.map((e) => e.model)).toEqual([MINI]);
  });
});

describe('which providers take bare ids', () => {
  it('OpenRouter by default once it has a key; any provider with bareIds: true; none that opt out', () => {
    const base = { dialect: 'openai' as const, baseUrl: 'http://127.0.0.1:9/v1' };
    expect(bareIdProviders(loadConfig({ env: {} }))).toEqual([]);
    expect(bareIdProviders(loadConfig({ env: { OPENROUTER_API_KEY: 'k' } }))).toEqual(['openrouter']);
    expect(
      bareIdProviders(
        loadConfig({ env: { OPENROUTER_API_KEY: 'k' }, overrides: { providers: { openrouter: { bareIds: false }, groq: { ...base, bareIds: true } } } }),
      ),
    ).toEqual(['groq']);
    expect(bareIdProviders(loadConfig({ env: { OPENAI_API_KEY: 'k' } }))).toEqual([]);
  });
});

describe('the catalogue checks its aliases', () => {
  it('warns at each refresh about an alias that names no model, and resolves the others', async () => {
    const { ModelCatalogue } = await import('../src/llm/catalogue.js');
    const { DemoProvider } = await import('../src/llm/demo-provider.js');
    const warnings: string[] = [];
    const catalogue = new ModelCatalogue([new DemoProvider({ speed: 1 })], (w) => warnings.push(w), { aliases: { quick: 'demo/fast', gone: 'demo/retired' } });
    await catalogue.refresh();
    expect(warnings).toEqual(['models.aliases: gone → demo/retired names no model in the catalogue']);
    expect(catalogue.resolve('quick')?.info.id).toBe('demo/fast');
    expect(catalogue.resolve('gone')).toBeUndefined();
    await catalogue.close();
  });
});
