import { TributaryError, type ErrorCode } from '../errors.js';
import type { TierName } from '../config/schema.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  /** Assistant turns: the tools the model called. */
  toolCalls?: ToolCall[] | undefined;
  /** `tool` turns: the call this message answers. */
  toolCallId?: string | undefined;
  /** OpenAI's participant name; only providers that support `name` receive it. */
  name?: string | undefined;
}

/** One function call of the model; `arguments` is the JSON text the model wrote. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** A function the model may call (`parameters` is a JSON Schema object). */
export interface ToolDefinition {
  name: string;
  description?: string | undefined;
  parameters?: Record<string, unknown> | undefined;
  strict?: boolean | null | undefined;
}

export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

/**
 * Request settings beyond the messages, named as OpenAI's Chat Completions names them. A
 * provider lists the ones it can honour (`Provider.supports`); callers refuse the rest.
 */
export interface GenerationOptions {
  tools?: ToolDefinition[] | undefined;
  tool_choice?: ToolChoice | undefined;
  parallel_tool_calls?: boolean | undefined;
  /** `{type: 'json_object'}` or `{type: 'json_schema', json_schema: {...}}`, verbatim. */
  response_format?: Record<string, unknown> | undefined;
  seed?: number | undefined;
  presence_penalty?: number | undefined;
  frequency_penalty?: number | undefined;
  logit_bias?: Record<string, number> | undefined;
  user?: string | undefined;
  logprobs?: boolean | undefined;
  top_logprobs?: number | undefined;
}

/** `name` stands for a participant name on any message (`messages[].name`). */
export type OptionName = keyof GenerationOptions | 'temperature' | 'top_p' | 'stop' | 'name';

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
  /** Tools and the other gateway settings; only those the provider `supports`. */
  options?: GenerationOptions | undefined;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

export type FinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls';

export type GenerationChunk =
  /**
   * The upstream accepted the request (a 2xx) and is answering; no text yet. A gateway sends its
   * own headers here, off the first token's path. Providers without an upstream may skip it.
   */
  | { type: 'start' }
  /**
   * `logprobs`: the upstream's OpenAI-shaped `choices[].logprobs` of this text, when asked for.
   * `json`: the text as the JSON string literal the upstream sent, when a decoder kept it (a relay copies it, no re-encoding).
   * `at`: when the provider had the text (`performance.now()`), given by one that read the clock
   * anyway: the metrics time inter-token gaps by it instead of a clock read per token, which cost
   * ~5 % of the fan-out's CPU per token here.
   */
  | { type: 'delta'; text: string; logprobs?: unknown; json?: string | undefined; at?: number }
  /**
   * A piece of a tool call, OpenAI's streaming shape: the first piece of call `index` carries
   * `id` and `name`, later ones more `arguments` text.
   */
  | { type: 'tool_call'; index: number; id?: string | undefined; name?: string | undefined; arguments: string }
  /** Reasoning ("thinking") text some providers stream; kept apart from the answer. */
  | { type: 'reasoning'; text: string }
  | { type: 'finish'; finishReason: FinishReason; usage: Usage };

/** Where `Provider.relay` pushes its chunks. */
export interface BatchSink {
  /** One upstream read's chunks; false asks the provider to pause the upstream until `drained()`. */
  batch(chunks: GenerationChunk[]): boolean;
  drained(): Promise<void>;
}

/** One upstream (or the demo). Yields `start`s and deltas then exactly one `finish`, or throws a ModelError. */
export interface Provider {
  readonly id: string;
  listModels(): Promise<ModelInfo[]>;
  stream(request: GenerationRequest): AsyncIterable<GenerationChunk>;
  /** `stream` grouped as the upstream delivered it (one array per read), for relays; optional. */
  streamBatches?(request: GenerationRequest): AsyncIterable<GenerationChunk[]>;
  /**
   * `streamBatches` pushed into `sink` as each upstream read arrives (no promise per read), for
   * relays; resolves once the finish chunk was delivered, rejects as `stream` would; optional.
   */
  relay?(request: GenerationRequest, sink: BatchSink): Promise<void>;
  /** The options (and sampling settings) this provider can honour for a model; absent = none beyond messages. */
  supports?(model: string): ReadonlySet<OptionName>;
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
