import type { GenerationChunk, GenerationRequest, ModelInfo, OptionName, Usage, FinishReason } from '../provider.js';
import type { UpstreamErrorInfo } from './classify.js';
import type { UpstreamSseEvent } from './sse-parser.js';

/** What a dialect needs to know of its provider's settings. */
export interface DialectOptions {
  /** OpenAI dialect: name of the output limit field (`max_tokens` or `max_completion_tokens`). */
  maxTokensField: 'max_tokens' | 'max_completion_tokens';
  /** OpenAI dialect: ask for `stream_options.include_usage` (a few servers reject it). */
  includeUsage: boolean;
}

/** A model as an upstream listing describes it (ids without our provider prefix). */
export type ListedModel = Pick<ModelInfo, 'name' | 'contextLength' | 'pricing'> & { id: string };

/** Turns one upstream's SSE events into generation chunks; one per request. */
export interface StreamDecoder {
  /** The chunks an event carries; `'done'` when the event ends the answer. Throws a ModelError for an error event. */
  event(event: UpstreamSseEvent): GenerationChunk[] | 'done';
  /** The final chunk once the answer is complete; throws when the stream ended too early. */
  finish(): Extract<GenerationChunk, { type: 'finish' }>;
}

/** One wire protocol (OpenAI Chat Completions, Anthropic Messages): pure mapping, no I/O. */
export interface Dialect {
  readonly name: 'openai' | 'anthropic';
  /** Paths are relative to the provider's base URL. */
  readonly chatPath: string;
  readonly modelsPath: string;
  /** The request options the wire protocol can carry. */
  readonly supports: ReadonlySet<OptionName>;
  authHeaders(apiKey: string | undefined): Record<string, string>;
  chatBody(upstreamModel: string, request: GenerationRequest, options: DialectOptions): string;
  parseModels(json: unknown): ListedModel[];
  /** Extracts type and message from an error response body (any shape, possibly not JSON). */
  errorInfo(body: string): UpstreamErrorInfo;
  decoder(): StreamDecoder;
}

/** The request's sampling settings as upstream body fields (both dialects name them alike, bar `stop`). */
export function samplingFields(params: GenerationRequest['params'], stopField: 'stop' | 'stop_sequences'): Record<string, unknown> {
  return {
    ...(params?.temperature !== undefined ? { temperature: params.temperature } : {}),
    ...(params?.topP !== undefined ? { top_p: params.topP } : {}),
    ...(params?.stop?.length ? { [stopField]: params.stop } : {}),
  };
}

export function emptyUsage(): Usage {
  return { inputTokens: 0, outputTokens: 0 };
}

export type { FinishReason };
