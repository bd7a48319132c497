import { TributaryError } from '../errors.js';
import {
  ModelError,
  type ChatMessage,
  type FinishReason,
  type GenerationChunk,
  type GenerationOptions,
  type GenerationRequest,
  type OptionName,
} from './provider.js';
import { classifyHttpError, type UpstreamErrorInfo } from './upstream/classify.js';
import { emptyUsage, samplingFields, type Dialect, type ListedModel, type StreamDecoder } from './upstream/dialect.js';
import type { UpstreamSseEvent } from './upstream/sse-parser.js';
import { parseJson } from './openai-dialect.js';

export const ANTHROPIC_VERSION = '2023-06-01';

/**
 * Anthropic Messages with `stream: true`: `message_start` (input usage), `content_block_start`,
 * `content_block_delta` (`text_delta`, `thinking_delta`), `content_block_stop`, `message_delta`
 * (stop reason, output usage), `message_stop`; `ping` and unknown events are skipped; `error`
 * events fail the answer. System messages become the top-level `system`. Tools: `tool_use`
 * blocks (`input_json_delta`) become tool-call chunks; assistant tool calls go back as
 * `tool_use` blocks and `tool` turns as `tool_result` blocks of the next user turn.
 */
export const anthropicDialect: Dialect = {
  name: 'anthropic',
  chatPath: '/v1/messages',
  modelsPath: '/v1/models?limit=1000',
  supports: new Set<OptionName>(['tools', 'tool_choice', 'parallel_tool_calls', 'user', 'temperature', 'top_p', 'stop']),

  authHeaders(apiKey) {
    return { 'anthropic-version': ANTHROPIC_VERSION, ...(apiKey ? { 'x-api-key': apiKey } : {}) };
  },

  chatBody(model: string, request: GenerationRequest): string {
    const system = request.messages
      .filter((m) => m.role === 'system')
      .map((m) => m.content)
      .join('\n\n');
    return JSON.stringify({
      model,
      max_tokens: request.maxOutputTokens,
      ...(system ? { system } : {}),
      messages: anthropicMessages(request.messages),
      stream: true,
      ...samplingFields(request.params, 'stop_sequences'),
      ...(request.options ? anthropicOptions(request.options) : {}),
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

type Block = Record<string, unknown>;
interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: string | Block[];
}

/**
 * Turns in Messages' shape. Tool calls become `tool_use` blocks; `tool` turns become
 * `tool_result` blocks of a user turn, merged with the turns around them (Messages wants
 * every result of a step in the one user turn that follows it).
 */
function anthropicMessages(messages: ChatMessage[]): AnthropicMessage[] {
  const out: AnthropicMessage[] = [];
  for (const m of messages) {
    if (m.role === 'system') continue;
    let next: AnthropicMessage;
    if (m.role === 'tool') next = { role: 'user', content: [{ type: 'tool_result', tool_use_id: m.toolCallId, content: m.content }] };
    else if (m.toolCalls?.length) {
      next = {
        role: 'assistant',
        content: [...textBlocks(m.content), ...m.toolCalls.map((c) => ({ type: 'tool_use', id: c.id, name: c.name, input: toolInput(c.arguments) }))],
      };
    } else next = { role: m.role, content: m.content };
    const last = out.at(-1);
    if (last && last.role === next.role && (typeof last.content !== 'string' || typeof next.content !== 'string')) {
      last.content = [...blocks(last.content), ...blocks(next.content)];
    } else out.push(next);
  }
  return out;
}

function blocks(content: string | Block[]): Block[] {
  return typeof content === 'string' ? textBlocks(content) : content;
}

function textBlocks(text: string): Block[] {
  return text === '' ? [] : [{ type: 'text', text }];
}

function toolInput(args: string): unknown {
  try {
    const input = JSON.parse(args === '' ? '{}' : args);
    if (typeof input === 'object' && input !== null && !Array.isArray(input)) return input;
  } catch {
    // fall through
  }
  throw new TributaryError('invalid_field', 'An assistant tool call has arguments that are not a JSON object; Anthropic needs one.', { field: 'messages' });
}

/** Tools, tool_choice (with `parallel_tool_calls: false` as `disable_parallel_tool_use`) and `user` as Messages fields. */
function anthropicOptions(o: GenerationOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (o.tools) {
    out.tools = o.tools.map((t) => {
      if (t.strict)
        throw new TributaryError('unsupported_parameter', 'Anthropic models cannot honour strict tool schemas (`strict: true`).', { param: 'tools' });
      return { name: t.name, ...(t.description ? { description: t.description } : {}), input_schema: t.parameters ?? { type: 'object', properties: {} } };
    });
  }
  const choice = o.tool_choice;
  let toolChoice: Record<string, unknown> | undefined =
    choice === undefined
      ? undefined
      : choice === 'required'
        ? { type: 'any' }
        : typeof choice === 'string'
          ? { type: choice }
          : { type: 'tool', name: choice.name };
  if (o.parallel_tool_calls === false && toolChoice?.type !== 'none') toolChoice = { ...(toolChoice ?? { type: 'auto' }), disable_parallel_tool_use: true };
  if (toolChoice) out.tool_choice = toolChoice;
  if (o.user !== undefined) out.metadata = { user_id: o.user };
  return out;
}

export function anthropicErrorInfo(body: string): UpstreamErrorInfo {
  try {
    const error = JSON.parse(body)?.error;
    return { type: typeof error?.type === 'string' ? error.type : undefined, message: typeof error?.message === 'string' ? error.message : undefined };
  } catch {
    return { message: body.slice(0, 300) || undefined };
  }
}

const STOP_REASONS: Record<string, FinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  tool_use: 'tool_calls',
  pause_turn: 'stop',
  max_tokens: 'length',
  refusal: 'content_filter',
};

/** Status an `error` event's type stands for (the stream itself is already 200). */
const ERROR_EVENT_STATUS: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  overloaded_error: 529,
};

class AnthropicDecoder implements StreamDecoder {
  private stopReason: FinishReason | undefined;
  private stopped = false;
  private usage = emptyUsage();
  /** Content block index → tool call index (calls are numbered apart from text blocks, as OpenAI numbers them). */
  private readonly toolIndex = new Map<number, number>();

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
        if (delta.type === 'thinking_delta' && typeof delta.thinking === 'string' && delta.thinking !== '')
          return [{ type: 'reasoning', text: delta.thinking }];
        if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string' && delta.partial_json !== '') {
          const index = this.toolIndex.get(data.index);
          if (index === undefined)
            throw new ModelError('upstream_error', 'The provider sent tool input for a block that is not a tool call.', { retryable: false });
          return [{ type: 'tool_call', index, arguments: delta.partial_json }];
        }
        return [];
      }
      case 'content_block_start': {
        const block = data.content_block;
        if (block?.type !== 'tool_use') return [];
        const index = this.toolIndex.size;
        this.toolIndex.set(data.index, index);
        // A streamed tool_use starts with `input: {}` and sends the input as deltas; a filled one is whole already.
        const input = block.input && typeof block.input === 'object' && Object.keys(block.input).length > 0 ? JSON.stringify(block.input) : '';
        return [{ type: 'tool_call', index, id: String(block.id), name: String(block.name), arguments: input }];
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
        return []; // ping, content_block_stop, and events added later
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
