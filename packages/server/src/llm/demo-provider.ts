import type { DemoModelConfig, TierName } from '../config/schema.js';
import { composeDemoText, hashString, tokenizeDemoText } from './demo-text.js';
import { argumentPieces, demoToolAnswer, demoToolCall } from './demo-tools.js';
import {
  ModelError,
  type ChatMessage,
  type OptionName,
  type GenerationChunk,
  type GenerationRequest,
  type ModelInfo,
  type Provider,
  type ToolCall,
} from './provider.js';

/**
 * Built-in models. Standard-tier timings are chosen so that in a default comparison every
 * model's first token arrives before any model finishes (fast ends at ~0.2 + 220/80 ≈ 3 s,
 * after slow's first token at 0.8 s), and the fast model's first 20 tokens (~0.45 s) overlap
 * the balanced model's first token (0.35 s): chunks interleave from the start.
 */
export const DEFAULT_DEMO_MODELS: Record<string, DemoModelConfig> = {
  'demo/fast': { name: 'Demo · Fast', firstTokenMs: 200, tokensPerSecond: 80, answerTokens: 220, flaky: false },
  'demo/balanced': { name: 'Demo · Balanced', firstTokenMs: 350, tokensPerSecond: 60, answerTokens: 260, flaky: false },
  'demo/slow': { name: 'Demo · Slow', firstTokenMs: 800, tokensPerSecond: 35, answerTokens: 200, flaky: false },
  'demo/flaky': { name: 'Demo · Flaky', firstTokenMs: 300, tokensPerSecond: 60, answerTokens: 240, flaky: true },
  'demo/verbose': { name: 'Demo · Verbose', firstTokenMs: 600, tokensPerSecond: 120, answerTokens: 420, flaky: false },
};

/** Answer length relative to the standard tier. */
export const DEMO_TIER_FACTORS: Record<TierName, number> = { brief: 0.6, standard: 1, extended: 1.8 };

export const DEMO_CONTEXT_LENGTH = 32_768;

/** `retryAfterMs` of the flaky model's deterministic rate limit. */
export const DEMO_RETRY_AFTER_MS = 2_000;

/** Share of the answer the flaky model streams before a mid-stream failure. */
const MID_STREAM_FRACTION = 0.4;

export interface DemoAnswer {
  /** The tokens `stream` yields, in order (after any `maxOutputTokens` truncation). */
  tokens: string[];
  /** `tokens.join('')`. */
  text: string;
  finishReason: 'stop' | 'length';
}

export type DemoFailureMode = 'before_first_token' | 'mid_stream' | 'none';

/**
 * The full deterministic answer, without timing. `stream` uses the same function, so tests can
 * predict exactly what a demo model will say.
 */
export function demoAnswer(
  model: string,
  tier: TierName,
  messages: ChatMessage[],
  maxOutputTokens?: number,
  models: Record<string, DemoModelConfig> = DEFAULT_DEMO_MODELS,
): DemoAnswer {
  const config = Object.hasOwn(models, model) ? models[model] : undefined;
  if (!config) throw new ModelError('invalid_model', `Unknown demo model: ${model}`);
  const text =
    demoToolAnswer(messages) ??
    composeDemoText({
      seedKey: `${model}|${tier}`,
      messages,
      targetTokens: config.answerTokens * (DEMO_TIER_FACTORS[tier] ?? 1),
    });
  const all = tokenizeDemoText(text);
  const limit = maxOutputTokens ?? Infinity;
  if (all.length <= limit) return { tokens: all, text, finishReason: 'stop' };
  const tokens = all.slice(0, Math.max(0, Math.floor(limit)));
  return { tokens, text: tokens.join(''), finishReason: 'length' };
}

/** How a flaky demo model fails for this prompt; roughly a third each, stable per (model, messages). */
export function demoFailureMode(model: string, messages: ChatMessage[]): DemoFailureMode {
  const h = hashString(JSON.stringify(['flaky', model, messages.map((m) => [m.role, m.content])]));
  return (['before_first_token', 'mid_stream', 'none'] as const)[h % 3] as DemoFailureMode;
}

/** Rough input size: ~4 characters per token. */
export function demoInputTokens(messages: ChatMessage[]): number {
  return Math.ceil(messages.reduce((n, m) => n + m.content.length, 0) / 4);
}

/** Tools (demo-tools.ts); sampling settings are accepted and have no effect: the answers are deterministic. */
const DEMO_SUPPORTS: ReadonlySet<OptionName> = new Set<OptionName>([
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'temperature',
  'top_p',
  'stop',
  'seed',
  'user',
  'presence_penalty',
  'frequency_penalty',
  'name',
]);

/** Readable text at a realistic pace, with no upstream. Always labelled as demo. */
export class DemoProvider implements Provider {
  readonly id = 'demo';
  private readonly speed: number;
  private readonly models: Record<string, DemoModelConfig>;

  constructor(opts: { speed: number; models?: Record<string, DemoModelConfig> }) {
    if (!(opts.speed > 0)) throw new RangeError(`demo speed must be positive, got ${opts.speed}`);
    this.speed = opts.speed;
    // Configured models replace the defaults, so tests can run a single tiny model.
    this.models = { ...(opts.models ?? DEFAULT_DEMO_MODELS) };
  }

  async listModels(): Promise<ModelInfo[]> {
    return Object.entries(this.models).map(([id, m]) => ({
      id,
      name: m.name,
      provider: 'demo',
      demo: true,
      contextLength: DEMO_CONTEXT_LENGTH,
      description:
        `Built-in demo model: generated text, no upstream and no cost. ` +
        `About ${formatMs(m.firstTokenMs / this.speed)} to the first token, then ~${formatRate(m.tokensPerSecond * this.speed)} tokens/s` +
        (m.flaky ? '; fails deterministically for some prompts.' : '.'),
    }));
  }

  supports(): ReadonlySet<OptionName> {
    return DEMO_SUPPORTS;
  }

  /** The answer `stream` would produce for this request, without timing. */
  answer(model: string, tier: TierName, messages: ChatMessage[], maxOutputTokens?: number): DemoAnswer {
    return demoAnswer(model, tier, messages, maxOutputTokens, this.models);
  }

  async *stream(req: GenerationRequest): AsyncGenerator<GenerationChunk, void, undefined> {
    const { signal } = req;
    if (signal.aborted) throw new ModelError('cancelled');
    const config = Object.hasOwn(this.models, req.model) ? this.models[req.model] : undefined;
    if (!config) throw new ModelError('invalid_model', `Unknown demo model: ${req.model}`);

    const start = performance.now();
    const call = demoToolCall(req.model, req.messages, req.options);
    if (call) {
      yield* this.streamToolCall(req, config, call, start);
      return;
    }
    const { tokens, finishReason } = this.answer(req.model, req.tier, req.messages, req.maxOutputTokens);
    const failure = config.flaky ? demoFailureMode(req.model, req.messages) : 'none';
    const firstAt = start + config.firstTokenMs / this.speed;
    const intervalMs = 1000 / (config.tokensPerSecond * this.speed);

    let at = await waitUntil(firstAt, signal);
    if (failure === 'before_first_token') {
      throw new ModelError('rate_limited', 'Demo rate limit (deterministic flaky failure)', { retryAfterMs: DEMO_RETRY_AFTER_MS });
    }
    const failAt = failure === 'mid_stream' ? Math.max(1, Math.floor(tokens.length * MID_STREAM_FRACTION)) : Infinity;

    for (let i = 0; i < tokens.length; i++) {
      // Absolute schedule: token i is due at firstAt + i·interval, so timer lateness never accumulates.
      if (i > 0) at = await waitUntil(firstAt + i * intervalMs, signal);
      if (i >= failAt) throw midStreamFailure();
      yield { type: 'delta', text: tokens[i] as string, at };
    }
    if (failAt !== Infinity) throw midStreamFailure(); // answers too short to reach failAt
    if (signal.aborted) throw new ModelError('cancelled');
    yield { type: 'finish', finishReason, usage: { inputTokens: demoInputTokens(req.messages), outputTokens: tokens.length } };
  }

  /** A tool call at the model's pace: the call's head at the first token, then its arguments in pieces. */
  private async *streamToolCall(
    req: GenerationRequest,
    config: DemoModelConfig,
    call: ToolCall,
    start: number,
  ): AsyncGenerator<GenerationChunk, void, undefined> {
    const firstAt = start + config.firstTokenMs / this.speed;
    const intervalMs = 1000 / (config.tokensPerSecond * this.speed);
    const pieces = argumentPieces(call.arguments);
    await waitUntil(firstAt, req.signal);
    yield { type: 'tool_call', index: 0, id: call.id, name: call.name, arguments: '' };
    for (let i = 0; i < pieces.length; i++) {
      await waitUntil(firstAt + (i + 1) * intervalMs, req.signal);
      yield { type: 'tool_call', index: 0, arguments: pieces[i] as string };
    }
    yield { type: 'finish', finishReason: 'tool_calls', usage: { inputTokens: demoInputTokens(req.messages), outputTokens: pieces.length + 1 } };
  }
}

function midStreamFailure(): ModelError {
  return new ModelError('upstream_error', 'Demo upstream dropped the stream mid-answer (deterministic flaky failure)');
}

/**
 * Waits until `due` (a performance.now() time). When it is already due, still yields a
 * macrotask (setImmediate) so concurrent streams interleave and timers/I/O keep running.
 * Resolves with when the token was there (a delta's `at`): the timer's firing, or for one
 * already due, the time read to learn that. Rejects with `cancelled` as soon as the signal aborts.
 */
function waitUntil(due: number, signal: AbortSignal): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    if (signal.aborted) return reject(new ModelError('cancelled'));
    const now = performance.now();
    const delay = due - now;
    // Node timers have 1 ms resolution; sub-millisecond waits are treated as due.
    let cancel: () => void;
    const done = (at: number): void => {
      signal.removeEventListener('abort', onAbort);
      resolve(at);
    };
    if (delay >= 1) {
      const timer = setTimeout(() => done(performance.now()), delay);
      cancel = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(done, now);
      cancel = () => clearImmediate(immediate);
    }
    function onAbort(): void {
      cancel();
      reject(new ModelError('cancelled'));
    }
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

function formatRate(rate: number): string {
  return rate >= 100 ? String(Math.round(rate)) : String(Math.round(rate * 10) / 10);
}
