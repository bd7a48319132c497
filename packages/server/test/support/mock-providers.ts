import type { ConfigInput } from '../../src/config/schema.js';
import { MOCK_KEYS, startMockUpstream, type Dialect, type MockUpstream } from './mock-upstream.js';

/** Tight timeouts and fast retries so failure paths finish in well under a second each. */
export const TEST_TIMEOUTS = { firstTokenMs: 400, idleMs: 400, totalMs: 20_000 };
export const TEST_RETRY = { maxRetries: 2, baseDelayMs: 10, maxDelayMs: 1_000 };

/** Provider ids the tests use for each dialect's mock (and a twin with a wrong key). */
export const PROVIDER_IDS: Record<Dialect, string> = { openai: 'mockai', anthropic: 'mockant' };

export const SCENARIO_MODELS = [
  'ok',
  'edgetext',
  'bulk',
  'slow',
  'think',
  'trunc',
  'e404',
  'e429',
  'e429-once',
  'e500',
  'e500-once',
  'hang',
  'stall',
  'reset',
  'malformed',
  'context',
  'tool',
];

/** Config entries pointing two providers (right key, wrong key) at a mock upstream. */
export function mockProviderConfig(dialect: Dialect, mock: MockUpstream, extra: Record<string, unknown> = {}): NonNullable<ConfigInput['providers']> {
  const id = PROVIDER_IDS[dialect];
  const common = { dialect, baseUrl: mock.baseUrl, timeouts: TEST_TIMEOUTS, retry: TEST_RETRY, listModels: false, ...extra };
  return {
    [id]: { ...common, apiKey: MOCK_KEYS[dialect], models: SCENARIO_MODELS.map((m) => ({ id: m })) },
    [`${id}-badkey`]: { ...common, apiKey: 'sk-wrong', models: [{ id: 'ok' }] },
  };
}

export async function startMocks(opts: Parameters<typeof startMockUpstream>[1] = {}) {
  const openai = await startMockUpstream('openai', opts);
  const anthropic = await startMockUpstream('anthropic', opts);
  return {
    openai,
    anthropic,
    config: { ...mockProviderConfig('openai', openai), ...mockProviderConfig('anthropic', anthropic) },
    close: () => Promise.all([openai.close(), anthropic.close()]),
  };
}
