import { ModelError, type FinishReason, type GenerationChunk, type GenerationRequest } from './provider.js';
import { classifyHttpError, type UpstreamErrorInfo } from './upstream/classify.js';
import { emptyUsage, samplingFields, type Dialect, type ListedModel, type StreamDecoder } from './upstream/dialect.js';
import type { UpstreamSseEvent } from './upstream/sse-parser.js';
import { parseJson } from './openai-dialect.js';

export const ANTHROPIC_VERSION = '2023-06-01';

/**
 * Anthropic Messages with `stream: true`: `message_start` (input usage), `content_block_start`,
 * `content_block_delta` (`text_delta`, `thinking_delta`), `content_block_stop`, `message_delta`
 * (stop reason, output usage), `message_stop`; `ping` and unknown events are skipped; `error`
 * events fail the answer. System messages become the top-level `system`.
 */
export const anthropicDialect: Dialect = {
  name: 'anthropic',
  chatPath: '/v1/messages',
  modelsPath: '/v1/models?limit=1000',

  authHeaders(apiKey) {
    return { 'anthropic-version': ANTHROPIC_VERSION, ...(apiKey ? { 'x-api-key': apiKey } : {}) };
  },

  chatBody(model: string, request: GenerationRequest): string {
    const system = request.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
    return JSON.stringify({
      model,
      max_tokens: request.maxOutputTokens,
      ...(system ? { system } : {}),
      messages: request.messages.filter((m) => m.role !== 'system').map((m) => ({ role: m.role, content: m.content })),
      stream: true,
      ...samplingFields(request.params, 'stop_sequences'),
    });
  },

  parseModels(json: unknown): ListedModel[] {
    const data = (json as { data?: unknown })?.data;
    if (!Array.isArray(data)) throw new Error('the models listing has no data array');
    return data
      .filter((m): m is Record<string, any> => typeof m?.id === 'string')
      .map((m) => ({ id: m.id, name: typeof m.display_name === 'string' ? m.display_name : m.id, contextLength: null }));
  },

  errorInfo: anthropicErrorInfo,

  decoder(): StreamDecoder {
    return new AnthropicDecoder();
  },
};

export function anthropicErrorInfo(body: string): UpstreamErrorInfo {
  try {
    const error = JSON.parse(body)?.error;
    return { type: typeof error?.type === 'string' ? error.type : undefined, message: typeof error?.message === 'string' ? error.message : undefined };
  } catch {
    return { message: body.slice(0, 300) || undefined };
  }
}

const STOP_REASONS: Record<string, FinishReason> = {
  end_turn: 'stop', stop_sequence: 'stop', tool_use: 'stop', pause_turn: 'stop', max_tokens: 'length', refusal: 'content_filter',
};

/** Status an `error` event's type stands for (the stream itself is already 200). */
const ERROR_EVENT_STATUS: Record<string, number> = {
  invalid_request_error: 400, authentication_error: 401, permission_error: 403, not_found_error: 404,
  request_too_large: 413, rate_limit_error: 429, api_error: 500, overloaded_error: 529,
};

class AnthropicDecoder implements StreamDecoder {
  private stopReason: FinishReason | undefined;
  private stopped = false;
  private usage = emptyUsage();

  event(event: UpstreamSseEvent): GenerationChunk[] | 'done' {
    const data = parseJson(event.data);
    const type = typeof data.type === 'string' ? data.type : event.event;
    switch (type) {
      case 'message_start': {
        const usage = data.message?.usage;
        if (usage) this.usage = { inputTokens: inputTokens(usage), outputTokens: usage.output_tokens ?? 0 };
        return [];
      }
      case 'content_block_delta': {
        const delta = data.delta ?? {};
        if (delta.type === 'text_delta' && typeof delta.text === 'string' && delta.text !== '') return [{ type: 'delta', text: delta.text }];
        if (delta.type === 'thinking_delta' && typeof delta.thinking === 'string' && delta.thinking !== '') return [{ type: 'reasoning', text: delta.thinking }];
        return [];
      }
      case 'message_delta': {
        if (typeof data.delta?.stop_reason === 'string') this.stopReason = STOP_REASONS[data.delta.stop_reason] ?? 'stop';
        // message_delta usage is cumulative.
        if (typeof data.usage?.output_tokens === 'number') this.usage.outputTokens = data.usage.output_tokens;
        if (typeof data.usage?.input_tokens === 'number') this.usage.inputTokens = inputTokens(data.usage);
        return [];
      }
      case 'message_stop':
        this.stopped = true;
        return 'done';
      case 'error': {
        const info = anthropicErrorInfo(event.data);
        throw classifyHttpError(ERROR_EVENT_STATUS[info.type ?? ''] ?? 500, {}, info);
      }
      default:
        return []; // ping, content_block_start/stop, and events added later
    }
  }

  finish(): Extract<GenerationChunk, { type: 'finish' }> {
    if (!this.stopped) throw new ModelError('upstream_error', 'The provider ended the stream before message_stop.', { retryable: false });
    return { type: 'finish', finishReason: this.stopReason ?? 'stop', usage: this.usage };
  }
}

function inputTokens(usage: Record<string, unknown>): number {
  const n = (k: string) => (typeof usage[k] === 'number' ? (usage[k] as number) : 0);
  return n('input_tokens') + n('cache_creation_input_tokens') + n('cache_read_input_tokens');
}
