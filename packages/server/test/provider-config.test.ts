import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { MOCK_KEYS, startMockUpstream, type MockUpstream } from './support/mock-upstream.js';
import { startServer } from './support/server.js';

describe('provider configuration and the merged catalogue', () => {
  let openai: MockUpstream;
  let anthropic: MockUpstream;
  beforeAll(async () => {
    openai = await startMockUpstream('openai', { listed: ['ok', 'gpt-4o-mini', 'text-embedding-3-small'] });
    anthropic = await startMockUpstream('anthropic', { listed: ['ok', 'claude-sonnet-4-5'] });
  });
  afterAll(async () => {
    await openai?.close();
    await anthropic?.close();
  });

  it('with no keys, the demo provider alone serves', () => {
    expect(loadConfig({ env: {} }).providers).toEqual({});
  });

  it('each environment shortcut alone enables its provider', () => {
    const config = loadConfig({
      env: { OPENROUTER_API_KEY: 'sk-or', OPENAI_API_KEY: 'sk-oa', OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1', ANTHROPIC_API_KEY: 'sk-ant' },
    });
    expect(Object.keys(config.providers).sort()).toEqual(['anthropic', 'openai', 'openrouter']);
    expect(config.providers.openai).toMatchObject({ apiKey: 'sk-oa', baseUrl: 'http://127.0.0.1:11434/v1', listModels: true });
    expect(config.providers.openrouter).toMatchObject({ apiKey: 'sk-or' });
  });

  it('a provider without a preset must name its dialect and base URL; demo is reserved', () => {
    expect(() => loadConfig({ env: {}, overrides: { providers: { groq: { apiKey: 'k' } } } })).toThrow(
      /providers\.groq\.dialect.*\n.*providers\.groq\.baseUrl/,
    );
    expect(() => loadConfig({ env: {}, overrides: { providers: { demo: { dialect: 'openai', baseUrl: 'http://x' } } } })).toThrow(
      /demo is the built-in provider/,
    );
    expect(() => loadConfig({ env: { OPENAI_BASE_URL: 'ftp://x' } })).toThrow(/providers\.openai\.baseUrl.*env OPENAI_BASE_URL/);
  });

  it('env shortcuts point real providers at their upstream: listings merged, grouped, priced, cached', async () => {
    const server = await startServer(
      { providers: { openai: { models: [{ id: 'ok', name: 'Configured OK', contextLength: 1234 }] } } },
      {
        env: {
          OPENAI_API_KEY: MOCK_KEYS.openai,
          OPENAI_BASE_URL: openai.baseUrl,
          ANTHROPIC_API_KEY: MOCK_KEYS.anthropic,
          ANTHROPIC_BASE_URL: anthropic.baseUrl,
        },
      },
    );
    try {
      // The mock reports from its worker thread: give its message a moment to arrive.
      await until(() => openai.listings() >= 1);
      const listingsAfterStart = openai.listings();
      expect(listingsAfterStart).toBe(1);
      const body = await (await fetch(`${server.url}/models`)).json();
      const byId = Object.fromEntries(body.models.map((m: any) => [m.id, m]));
      expect(Object.keys(body.models_by_provider).sort()).toEqual(['anthropic', 'demo', 'openai']);
      // Configured details win over the listing; the listing adds context length and pricing.
      expect(byId['openai/ok']).toMatchObject({ name: 'Configured OK', context_length: 1234, provider: 'openai', demo: false });
      expect(byId['openai/gpt-4o-mini']).toMatchObject({ context_length: 65_536, pricing: { inputPerMillion: 2.5, outputPerMillion: 10 } });
      expect(byId['openai/text-embedding-3-small']).toBeUndefined(); // not a chat model
      expect(byId['anthropic/claude-sonnet-4-5']).toMatchObject({ name: 'Mock claude-sonnet-4-5', provider: 'anthropic' });
      expect(byId['demo/fast']).toMatchObject({ demo: true });
      // Listed models stream like configured ones; serving requests does not list again.
      const chat = await (
        await fetch(`${server.url}/chat`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: 'Hi', model: 'anthropic/ok' }),
        })
      ).json();
      expect(chat).toMatchObject({ error: false, model: 'anthropic/ok' });
      await server.app.ctx.catalogue.refresh(); // within refreshSeconds: the cached listing is reused
      await new Promise((r) => setTimeout(r, 100));
      expect(openai.listings()).toBe(listingsAfterStart);
    } finally {
      await server.close();
    }
  });

  it('a failing listing keeps the configured models, and the server starts anyway', async () => {
    const server = await startServer({
      providers: { broken: { dialect: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'k', models: [{ id: 'still-here' }] } },
    });
    try {
      const body = await (await fetch(`${server.url}/models`)).json();
      expect(body.models.map((m: any) => m.id)).toContain('broken/still-here');
      // …and calling it gives a classified network error, not a crash.
      const r = await (
        await fetch(`${server.url}/compare`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ input_data: 'Hi', models: ['broken/still-here', 'demo/fast'] }),
        })
      ).json();
      expect(r.errors['broken/still-here'].code).toBe('network');
      expect(r.metadata.models_successful).toBe(1);
    } finally {
      await server.close();
    }
  });
});

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
