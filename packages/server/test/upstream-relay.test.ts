import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { buildProviders } from '../src/llm/build-providers.js';
import { ModelError, type GenerationChunk, type GenerationRequest, type Provider } from '../src/llm/provider.js';
import { mockProviderConfig } from './support/mock-providers.js';
import { BULK_PIECES } from './support/mock-upstream-server.js';
import { startMockUpstream, type MockUpstream } from './support/mock-upstream.js';

/**
 * The gateway's push path (`Provider.relay`, undici's body callbacks straight into a sink), over
 * real HTTP from the mock upstream: a sink that is behind pauses the upstream socket, one that
 * throws closes it, and nothing is lost or reordered.
 */
describe('upstream relay', () => {
  let mock: MockUpstream;
  let provider: Provider;
  beforeAll(async () => {
    mock = await startMockUpstream('openai');
    // Roomy deadlines: nothing here tests them, and a loaded CI host once took over 400 ms to the first token.
    const timeouts = { firstTokenMs: 10_000, idleMs: 10_000, totalMs: 60_000 };
    const config = loadConfig({ env: {}, overrides: { providers: mockProviderConfig('openai', mock, { timeouts }) } });
    provider = (await buildProviders(config, () => undefined)).find((p) => p.id === 'mockai')!;
  });
  afterAll(async () => {
    await (provider as { close?: () => Promise<void> })?.close?.();
    await mock?.close();
  });

  const request = (model: string, signal = new AbortController().signal): GenerationRequest => ({
    model: `mockai/${model}`,
    messages: [{ role: 'user', content: 'Hi' }],
    maxOutputTokens: 100,
    tier: 'standard',
    signal,
  });
  const textOf = (chunks: GenerationChunk[]) => chunks.map((c) => (c.type === 'delta' ? c.text : '')).join('');

  it('a sink that is behind gets nothing more until it drained; then every piece, in order', async () => {
    const chunks: GenerationChunk[] = [];
    let behind = false;
    let pauses = 0;
    let deliveredWhileBehind = 0;
    await provider.relay!(request('bulk'), {
      batch(batch) {
        if (behind) deliveredWhileBehind++;
        chunks.push(...batch);
        // Behind once, after the first text: the sink asks for a pause.
        if (pauses === 0 && chunks.some((c) => c.type === 'delta')) {
          pauses++;
          behind = true;
          return false;
        }
        return true;
      },
      drained: () =>
        new Promise((resolve) =>
          setTimeout(() => {
            behind = false;
            resolve();
          }, 300),
        ),
    });
    expect(pauses).toBe(1);
    expect(behind).toBe(false);
    expect(deliveredWhileBehind).toBe(0);
    expect(textOf(chunks)).toBe(BULK_PIECES.join(''));
    expect(chunks.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop' });
  });

  it('a sink that throws ends the relay with its own error (no retry) and closes the upstream socket', async () => {
    const before = mock.count('slow');
    const failure = new Error('the sink broke');
    let batches = 0;
    const relay = provider.relay!(request('slow'), {
      batch(batch) {
        if (batch.some((c) => c.type === 'delta') && ++batches === 3) throw failure;
        return true;
      },
      drained: () => Promise.resolve(),
    });
    await expect(relay).rejects.toBe(failure);
    expect(mock.count('slow')).toBe(before + 1);
    const exchange = mock.exchanges.findLast((e) => e?.model === 'slow')!;
    await exchange.socketClosed;
    expect(exchange.finishedAt).toBeUndefined();
  });

  it('an upstream error status is classified from its body; a cancel aborts at once', async () => {
    await expect(provider.relay!(request('e404'), { batch: () => true, drained: () => Promise.resolve() })).rejects.toMatchObject({
      code: 'invalid_model',
    });
    const abort = new AbortController();
    const relay = provider.relay!(request('slow', abort.signal), {
      batch: (batch) => {
        if (batch.some((c) => c.type === 'delta')) abort.abort();
        return true;
      },
      drained: () => Promise.resolve(),
    });
    const err = await relay.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect((err as ModelError).code).toBe('cancelled');
  });
});
