import { TributaryError, type ErrorCode } from '../errors.js';
import type { TierName } from '../config/schema.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ModelInfo {
  /** Catalogue id, `<provider>/<model>`. */
  id: string;
  name: string;
  provider: string;
  /** Built-in demo model (no upstream, no cost). */
  demo: boolean;
  /** Tokens the model accepts; null when the provider does not say. */
  contextLength: number | null;
  /** USD per million tokens, where the provider or the config says. */
  pricing?: { inputPerMillion: number; outputPerMillion: number } | undefined;
  description?: string;
}

export interface GenerationRequest {
  /** Catalogue id of the model. */
  model: string;
  messages: ChatMessage[];
  maxOutputTokens: number;
  tier: TierName;
  /** Aborting it stops the generation at once (and the upstream request with it). */
  signal: AbortSignal;
  /** Sampling settings passed through to the upstream (the demo ignores them). */
  params?: { temperature?: number | undefined; topP?: number | undefined; stop?: string[] | undefined } | undefined;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

export type FinishReason = 'stop' | 'length' | 'content_filter';

export type GenerationChunk =
  /**
   * The upstream accepted the request (a 2xx) and is answering; no text yet. A gateway sends its
   * own headers here, off the first token's path. Providers without an upstream may skip it.
   */
  | { type: 'start' }
  | { type: 'delta'; text: string }
  /** Reasoning ("thinking") text some providers stream; kept apart from the answer. */
  | { type: 'reasoning'; text: string }
  | { type: 'finish'; finishReason: FinishReason; usage: Usage };

/** One upstream (or the demo). Yields `start`s and deltas then exactly one `finish`, or throws a ModelError. */
export interface Provider {
  readonly id: string;
  listModels(): Promise<ModelInfo[]>;
  stream(request: GenerationRequest): AsyncIterable<GenerationChunk>;
  /** Releases connections (keep-alive pools); called once when the app closes. */
  close?(): Promise<void>;
}

export type ModelErrorCode = Extract<
  ErrorCode,
  'invalid_model' | 'auth' | 'rate_limited' | 'timeout' | 'upstream_error' | 'network' | 'content_filter' | 'context_length' | 'cancelled'
>;

/** A classified per-model failure. */
export class ModelError extends TributaryError {
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  constructor(code: ModelErrorCode, message?: string, opts: { retryable?: boolean; retryAfterMs?: number } = {}) {
    super(code, message);
    this.name = 'ModelError';
    this.retryable = opts.retryable ?? ['rate_limited', 'timeout', 'upstream_error', 'network'].includes(code);
    this.retryAfterMs = opts.retryAfterMs;
  }

  static from(err: unknown, signal?: AbortSignal): ModelError {
    if (err instanceof ModelError) return err;
    if (signal?.aborted || (err as Error)?.name === 'AbortError') return new ModelError('cancelled');
    return new ModelError('upstream_error', (err as Error)?.message || 'The provider failed.');
  }

  describe(): { code: ModelErrorCode; message: string; retryable: boolean; retryAfterMs?: number } {
    return {
      code: this.code as ModelErrorCode,
      message: this.message,
      retryable: this.retryable,
      ...(this.retryAfterMs !== undefined ? { retryAfterMs: this.retryAfterMs } : {}),
    };
  }
}
