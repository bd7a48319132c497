import { describe, expect, it } from 'vitest';
import type { DemoModelConfig } from '../src/config/schema.js';
import { DEFAULT_DEMO_MODELS, DemoProvider, demoAnswer, demoFailureMode, type DemoFailureMode } from '../src/llm/demo-provider.js';
import { tokenizeDemoText } from '../src/llm/demo-text.js';
import { ModelError, type ChatMessage, type GenerationChunk, type GenerationRequest } from '../src/llm/provider.js';

// Timing tests use generous bounds and relative properties: CI machines are noisy.

const user = (content: string): ChatMessage[] => [{ role: 'user', content }];
const PROMPT = user('How do I tune PostgreSQL indexes for faster queries?');
const FAST = 1e6; // effectively no waiting

function request(overrides: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    model: 'demo/fast',
    messages: PROMPT,
    maxOutputTokens: 8192,
    tier: 'standard',
    signal: new AbortController().signal,
    ...overrides,
  };
}

function model(overrides: Partial<DemoModelConfig> = {}): DemoModelConfig {
  return { name: 'Demo · Test', firstTokenMs: 0, tokensPerSecond: 100, answerTokens: 60, flaky: false, ...overrides };
}

interface Outcome {
  deltas: string[];
  /** performance.now() at each delta. */
  times: number[];
  finish?: Extract<GenerationChunk, { type: 'finish' }>;
  finishedAt?: number;
  error?: ModelError;
  start: number;
}

async function run(provider: DemoProvider, req: GenerationRequest, onDelta?: (index: number) => void): Promise<Outcome> {
  const out: Outcome = { deltas: [], times: [], start: performance.now() };
  try {
    for await (const chunk of provider.stream(req)) {
      if (chunk.type === 'delta') {
        out.deltas.push(chunk.text);
        out.times.push(performance.now());
        onDelta?.(out.deltas.length - 1);
      } else {
        expect(out.finish).toBeUndefined();
        out.finish = chunk;
        out.finishedAt = performance.now();
      }
    }
  } catch (err) {
    expect(err).toBeInstanceOf(ModelError);
    out.error = err as ModelError;
  }
  return out;
}

function findPrompt(modelId: string, mode: DemoFailureMode): ChatMessage[] {
  for (let i = 0; i < 500; i++) {
    const messages = user(`Flaky question number ${i}: how do caches work?`);
    if (demoFailureMode(modelId, messages) === mode) return messages;
  }
  throw new Error(`no prompt found for ${mode}`);
}

describe('demo text', () => {
  it('is deterministic for the same model, tier and messages', () => {
    const a = demoAnswer('demo/balanced', 'standard', PROMPT);
    const b = demoAnswer('demo/balanced', 'standard', user(PROMPT[0]!.content));
    expect(a.text).toBe(b.text);
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens.join('')).toBe(a.text);
    expect(a.finishReason).toBe('stop');
  });

  it('differs between models, tiers and prompts', () => {
    const texts = Object.keys(DEFAULT_DEMO_MODELS).map((id) => demoAnswer(id, 'standard', PROMPT).text);
    expect(new Set(texts).size).toBe(texts.length);
    expect(demoAnswer('demo/fast', 'brief', PROMPT).text).not.toBe(demoAnswer('demo/fast', 'standard', PROMPT).text);
    expect(demoAnswer('demo/fast', 'standard', user('Why is the sky blue?')).text).not.toBe(texts[0]);
  });

  it('reads as prose that answers the prompt', () => {
    const prompts: Array<[string, RegExp]> = [
      ['How do I tune PostgreSQL indexes for faster queries?', /PostgreSQL indexes|faster queries/],
      ['Explain how photosynthesis works in simple terms.', /photosynthesis/],
      ['Write a python function to parse CSV files', /CSV files|python function/],
      ['What are the trade-offs of microservices versus a monolith?', /microservices|monolith/],
      ['Tips for training a puppy', /puppy|training/],
      ['hi', /\w/],
      ['', /\w/],
    ];
    for (const [prompt, keyword] of prompts) {
      for (const id of Object.keys(DEFAULT_DEMO_MODELS)) {
        for (const tier of ['brief', 'standard', 'extended'] as const) {
          const { text, tokens } = demoAnswer(id, tier, user(prompt));
          const label = `${id} ${tier} ${JSON.stringify(prompt)}`;
          expect(tokens.join(''), label).toBe(text);
          expect(text, label).toBe(text.trim());
          expect(text, label).toMatch(/^[A-Z]/);
          expect(text, label).toMatch(/[.!?]$/);
          expect(text, label).toMatch(keyword);
          expect(text, label).not.toMatch(/\{[ab]\}|undefined|NaN|\n{3}/);
          const prose = text.replace(/```[\s\S]*?```/g, '');
          expect(prose, label).not.toMatch(/ {2}|\s[.,;:]/);
          const paragraphs = text.split('\n\n');
          expect(paragraphs.length, label).toBeGreaterThanOrEqual(2);
          const proseTokens = tokenizeDemoText(prose);
          const words = proseTokens.filter((t) => /^\s*[\p{L}\p{N}]/u.test(t)).length;
          expect(words / proseTokens.length, label).toBeGreaterThan(0.75);
        }
      }
    }
  });

  it('sizes answers by model and tier', () => {
    for (const [id, cfg] of Object.entries(DEFAULT_DEMO_MODELS)) {
      const brief = demoAnswer(id, 'brief', PROMPT).tokens.length;
      const standard = demoAnswer(id, 'standard', PROMPT).tokens.length;
      const extended = demoAnswer(id, 'extended', PROMPT).tokens.length;
      expect(standard, id).toBeGreaterThanOrEqual(cfg.answerTokens * 0.9);
      expect(standard, id).toBeLessThanOrEqual(cfg.answerTokens * 1.3);
      expect(brief, id).toBeLessThan(standard);
      expect(extended, id).toBeGreaterThan(standard * 1.4);
    }
    expect(demoAnswer('demo/verbose', 'standard', PROMPT).tokens.length).toBeGreaterThan(demoAnswer('demo/fast', 'standard', PROMPT).tokens.length);
  });

  it('acknowledges a follow-up, deterministically', () => {
    const convo: ChatMessage[] = [
      { role: 'user', content: 'What is Rust?' },
      { role: 'assistant', content: 'Rust is a systems programming language.' },
      { role: 'user', content: 'How does its borrow checker compare to garbage collection?' },
    ];
    const a = demoAnswer('demo/balanced', 'standard', convo);
    expect(a.text).toBe(demoAnswer('demo/balanced', 'standard', structuredClone(convo)).text);
    expect(a.text).not.toBe(demoAnswer('demo/balanced', 'standard', convo.slice(2)).text);
    expect(a.text.split('.')[0]).toMatch(/follow-up|previous answer|left off|next question/i);
    expect(a.text).toMatch(/borrow checker|garbage collection/);
  });

  it('tokenizes into words with their leading space, and punctuation', () => {
    expect(tokenizeDemoText('Hello, world.\n\nIt works!')).toEqual(['Hello', ',', ' world', '.', '\n\nIt', ' works', '!']);
  });

  it('honours maxOutputTokens', () => {
    const full = demoAnswer('demo/fast', 'standard', PROMPT);
    const cut = demoAnswer('demo/fast', 'standard', PROMPT, 10);
    expect(cut.tokens).toEqual(full.tokens.slice(0, 10));
    expect(cut.finishReason).toBe('length');
    expect(full.text.startsWith(cut.text)).toBe(true);
    expect(demoAnswer('demo/fast', 'standard', PROMPT, full.tokens.length).finishReason).toBe('stop');
  });
});

describe('DemoProvider', () => {
  it('lists the default models as demo models', async () => {
    const models = await new DemoProvider({ speed: 1 }).listModels();
    expect(models.map((m) => m.id).sort()).toEqual(['demo/balanced', 'demo/fast', 'demo/flaky', 'demo/slow', 'demo/verbose']);
    for (const m of models) {
      expect(m.provider).toBe('demo');
      expect(m.demo).toBe(true);
      expect(m.name).toMatch(/^Demo · /);
      expect(m.contextLength).toBe(32768);
      expect(m.description).toMatch(/built-in demo model/i);
    }
    expect(models.find((m) => m.id === 'demo/flaky')?.description).toMatch(/fails/);
  });

  it('replaces the defaults when models are configured', async () => {
    const provider = new DemoProvider({ speed: FAST, models: { 'demo/only': model({ name: 'Demo · Only' }) } });
    expect((await provider.listModels()).map((m) => m.id)).toEqual(['demo/only']);
    const out = await run(provider, request({ model: 'demo/fast' }));
    expect(out.error?.code).toBe('invalid_model');
    expect((await run(provider, request({ model: 'demo/only' }))).finish?.finishReason).toBe('stop');
  });

  it('rejects a non-positive speed', () => {
    expect(() => new DemoProvider({ speed: 0 })).toThrow(RangeError);
    expect(() => new DemoProvider({ speed: Number.NaN })).toThrow(RangeError);
  });

  it('streams the deterministic answer token by token, then one finish with usage', async () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Be concise.' },
      { role: 'user', content: 'How do I tune PostgreSQL indexes for faster queries?' },
    ];
    const out = await run(new DemoProvider({ speed: FAST }), request({ model: 'demo/slow', messages }));
    const expected = demoAnswer('demo/slow', 'standard', messages);
    expect(out.error).toBeUndefined();
    expect(out.deltas).toEqual(expected.tokens);
    expect(out.finish).toEqual({
      type: 'finish',
      finishReason: 'stop',
      usage: { inputTokens: Math.ceil((11 + 52) / 4), outputTokens: expected.tokens.length },
    });
  });

  it('stops at maxOutputTokens with finishReason length', async () => {
    const out = await run(new DemoProvider({ speed: FAST }), request({ maxOutputTokens: 12 }));
    expect(out.deltas).toHaveLength(12);
    expect(out.deltas.join('')).toBe(demoAnswer('demo/fast', 'standard', PROMPT, 12).text);
    expect(out.finish?.finishReason).toBe('length');
    expect(out.finish?.usage.outputTokens).toBe(12);
  });

  it('throws invalid_model before yielding', async () => {
    const out = await run(new DemoProvider({ speed: FAST }), request({ model: 'demo/nope' }));
    expect(out.error?.code).toBe('invalid_model');
    expect(out.deltas).toHaveLength(0);
    expect(() => demoAnswer('demo/nope', 'standard', PROMPT)).toThrow(ModelError);
    expect((await run(new DemoProvider({ speed: FAST }), request({ model: 'toString' }))).error?.code).toBe('invalid_model');
  });

  it('honours first-token delay and rate, scaled by speed', async () => {
    const models = { 'demo/t': model({ firstTokenMs: 400, tokensPerSecond: 50, answerTokens: 40 }) };
    const n = demoAnswer('demo/t', 'standard', PROMPT, undefined, models).tokens.length;
    const [slow, quick] = await Promise.all([
      run(new DemoProvider({ speed: 2, models }), request({ model: 'demo/t' })),
      run(new DemoProvider({ speed: 8, models }), request({ model: 'demo/t' })),
    ]);
    // speed 2: first token after 200 ms, then 100 tokens/s.
    const ttft = slow.times[0]! - slow.start;
    expect(ttft).toBeGreaterThanOrEqual(190);
    expect(ttft).toBeLessThan(200 + 800);
    const streaming = slow.times[n - 1]! - slow.times[0]!;
    expect(streaming).toBeGreaterThanOrEqual((n - 1) * 10 - 15);
    expect(streaming).toBeLessThan((n - 1) * 10 + 1500);
    // speed 8 is faster on both counts.
    expect(quick.times[0]! - quick.start).toBeGreaterThanOrEqual(45);
    expect(quick.times[0]! - quick.start).toBeLessThan(ttft);
    expect(quick.finishedAt! - quick.start).toBeLessThan(slow.finishedAt! - slow.start);
    expect(quick.deltas).toEqual(slow.deltas);
  });

  it('stamps each delta with when it was there (`at`): on its schedule, in order, before it is read', async () => {
    const models = { 'demo/t': model({ firstTokenMs: 60, tokensPerSecond: 50, answerTokens: 12 }) };
    const start = performance.now();
    const stamps: Array<{ at: number; read: number }> = [];
    for await (const chunk of new DemoProvider({ speed: 1, models }).stream(request({ model: 'demo/t' }))) {
      if (chunk.type === 'delta') stamps.push({ at: chunk.at!, read: performance.now() });
    }
    expect(stamps.length).toBeGreaterThan(5);
    for (const [i, { at, read }] of stamps.entries()) {
      expect(at).toBeGreaterThanOrEqual(start + 60 + i * 20 - 2); // timers may fire up to ~1 ms early
      expect(at).toBeLessThanOrEqual(read);
      if (i > 0) expect(at).toBeGreaterThanOrEqual(stamps[i - 1]!.at);
    }
  });

  it('keeps to an absolute schedule, emitting overdue tokens at once', async () => {
    const models = { 'demo/t': model({ firstTokenMs: 0, tokensPerSecond: 20, answerTokens: 60 }) };
    const provider = new DemoProvider({ speed: 1, models });
    const it = provider.stream(request({ model: 'demo/t' }))[Symbol.asyncIterator]();
    const start = performance.now();
    await it.next();
    // Block the loop for 300 ms: tokens 1..5 (due at 50..250 ms) are now overdue.
    while (performance.now() - start < 300) {
      /* busy wait */
    }
    const caughtUp = performance.now();
    for (let i = 0; i < 5; i++) expect((await it.next()).done).toBe(false);
    expect(performance.now() - caughtUp).toBeLessThan(50);
    // Later tokens are on the original schedule again: token 8 is due at 400 ms.
    await it.next();
    await it.next();
    await it.next();
    expect(performance.now() - start).toBeGreaterThanOrEqual(390);
    await it.return?.();
  });

  it('in a default comparison, every first token arrives before any model finishes', async () => {
    // Analytically, for every default model at any speed...
    const timing = Object.entries(DEFAULT_DEMO_MODELS).map(([id, m]) => ({
      first: m.firstTokenMs,
      end: m.firstTokenMs + (demoAnswer(id, 'standard', PROMPT).tokens.length * 1000) / m.tokensPerSecond,
    }));
    expect(Math.max(...timing.map((t) => t.first))).toBeLessThan(Math.min(...timing.map((t) => t.end)));
    // ...and observed with the three standard models at 4x speed.
    const provider = new DemoProvider({ speed: 4 });
    const outs = await Promise.all(['demo/fast', 'demo/balanced', 'demo/slow'].map((id) => run(provider, request({ model: id }))));
    const [fast, balanced, slow] = outs as [Outcome, Outcome, Outcome];
    expect(Math.max(...outs.map((o) => o.times[0]!))).toBeLessThan(Math.min(...outs.map((o) => o.finishedAt!)));
    expect(fast.times[0]!).toBeLessThan(balanced.times[0]!);
    expect(balanced.times[0]!).toBeLessThan(slow.times[0]!);
    expect(fast.finishedAt!).toBeLessThan(slow.finishedAt!);
  });

  it('aborting mid-stream throws cancelled promptly and yields nothing after', async () => {
    // One token every 500 ms: a prompt rejection can only come from the abort.
    const models = { 'demo/t': model({ firstTokenMs: 0, tokensPerSecond: 2 }) };
    const controller = new AbortController();
    const it = new DemoProvider({ speed: 1, models }).stream(request({ model: 'demo/t', signal: controller.signal }))[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    let abortedAt = 0;
    setTimeout(() => {
      abortedAt = performance.now();
      controller.abort();
    }, 100);
    const err = await it.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ModelError);
    expect((err as ModelError).code).toBe('cancelled');
    expect(performance.now() - abortedAt).toBeLessThan(300);
    expect((await it.next()).done).toBe(true);
  });

  it('aborting from the consumer stops before the next token', async () => {
    const controller = new AbortController();
    const out = await run(new DemoProvider({ speed: FAST }), request({ signal: controller.signal }), (i) => {
      if (i === 2) controller.abort();
    });
    expect(out.error?.code).toBe('cancelled');
    expect(out.deltas).toHaveLength(3);
    expect(out.finish).toBeUndefined();
  });

  it('aborting during the first-token wait throws cancelled promptly', async () => {
    const models = { 'demo/t': model({ firstTokenMs: 10_000 }) };
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const out = await run(new DemoProvider({ speed: 1, models }), request({ model: 'demo/t', signal: controller.signal }));
    expect(out.error?.code).toBe('cancelled');
    expect(out.deltas).toHaveLength(0);
    expect(performance.now() - out.start).toBeLessThan(1000);
  });

  it('an already aborted signal throws cancelled before anything', async () => {
    const controller = new AbortController();
    controller.abort();
    const out = await run(new DemoProvider({ speed: FAST }), request({ signal: controller.signal }));
    expect(out.error?.code).toBe('cancelled');
    expect(out.deltas).toHaveLength(0);
  });

  describe('flaky', () => {
    it('splits prompts roughly into thirds, per model', () => {
      const counts = { before_first_token: 0, mid_stream: 0, none: 0 };
      let differsByModel = false;
      for (let i = 0; i < 600; i++) {
        const messages = user(`question ${i}`);
        const mode = demoFailureMode('demo/flaky', messages);
        counts[mode]++;
        if (mode !== demoFailureMode('demo/other', messages)) differsByModel = true;
        expect(demoFailureMode('demo/flaky', user(`question ${i}`))).toBe(mode);
      }
      for (const n of Object.values(counts)) expect(n / 600).toBeGreaterThan(0.25);
      expect(differsByModel).toBe(true);
    });

    it('before_first_token: rate_limited after the first-token delay, no deltas', async () => {
      const messages = findPrompt('demo/flaky', 'before_first_token');
      const out = await run(new DemoProvider({ speed: 4 }), request({ model: 'demo/flaky', messages }));
      expect(out.deltas).toHaveLength(0);
      expect(out.error?.code).toBe('rate_limited');
      expect(out.error?.retryable).toBe(true);
      expect(out.error?.retryAfterMs).toBe(2000);
      expect(performance.now() - out.start).toBeGreaterThanOrEqual(300 / 4 - 5);
    });

    it('mid_stream: upstream_error after about 40% of the tokens', async () => {
      const messages = findPrompt('demo/flaky', 'mid_stream');
      const total = demoAnswer('demo/flaky', 'standard', messages).tokens.length;
      const out = await run(new DemoProvider({ speed: FAST }), request({ model: 'demo/flaky', messages }));
      expect(out.error?.code).toBe('upstream_error');
      expect(out.error?.retryable).toBe(true);
      expect(out.deltas.length).toBe(Math.floor(total * 0.4));
      expect(out.deltas).toEqual(demoAnswer('demo/flaky', 'standard', messages).tokens.slice(0, out.deltas.length));
      expect(out.finish).toBeUndefined();
    });

    it('none: a normal answer', async () => {
      const messages = findPrompt('demo/flaky', 'none');
      const out = await run(new DemoProvider({ speed: FAST }), request({ model: 'demo/flaky', messages }));
      expect(out.error).toBeUndefined();
      expect(out.finish?.finishReason).toBe('stop');
    });

    it('only models marked flaky fail', async () => {
      const messages = findPrompt('demo/fast', 'before_first_token');
      const out = await run(new DemoProvider({ speed: FAST }), request({ model: 'demo/fast', messages }));
      expect(out.finish?.finishReason).toBe('stop');
      const custom = new DemoProvider({ speed: FAST, models: { 'demo/shaky': model({ flaky: true }) } });
      const failing = await run(custom, request({ model: 'demo/shaky', messages: findPrompt('demo/shaky', 'before_first_token') }));
      expect(failing.error?.code).toBe('rate_limited');
    });
  });

  it('a huge speed does not block the event loop', async () => {
    const models = {
      'demo/a': model({ firstTokenMs: 0, tokensPerSecond: 1, answerTokens: 1500 }),
      'demo/b': model({ firstTokenMs: 0, tokensPerSecond: 1e12, answerTokens: 1500 }),
    };
    const provider = new DemoProvider({ speed: 1e9, models });
    let ticks = 0;
    const interval = setInterval(() => ticks++, 1);
    let timerFiredAt = Infinity;
    setTimeout(() => (timerFiredAt = performance.now()), 0);
    try {
      const outs = await Promise.all(
        Array.from({ length: 12 }, (_, i) => run(provider, request({ model: i % 2 ? 'demo/a' : 'demo/b', messages: user(`stream ${i}`), tier: 'extended' }))),
      );
      for (const out of outs) expect(out.finish?.finishReason).toBe('stop');
      const lastFinish = Math.max(...outs.map((o) => o.finishedAt!));
      expect(timerFiredAt).toBeLessThan(lastFinish);
      expect(ticks).toBeGreaterThanOrEqual(1);
      // Fair: every stream got going before any finished.
      expect(Math.max(...outs.map((o) => o.times[0]!))).toBeLessThan(Math.min(...outs.map((o) => o.finishedAt!)));
    } finally {
      clearInterval(interval);
    }
  });
});
