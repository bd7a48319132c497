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
import { emptyUsage, samplingFields, type Dialect, type DialectOptions, type ListedModel, type StreamDecoder } from './upstream/dialect.js';
import type { UpstreamSseEvent } from './upstream/sse-parser.js';

/**
 * OpenAI Chat Completions with `stream: true` — OpenAI, OpenRouter, Groq, Together, DeepSeek,
 * Mistral, vLLM, Ollama, LM Studio … Chunks are `data: {"object":"chat.completion.chunk",…}`,
 * then (with `stream_options.include_usage`) one chunk with `choices: []` and `usage`, then
 * `data: [DONE]`.
 */
export const openaiDialect: Dialect = {
  name: 'openai',
  chatPath: '/chat/completions',
  modelsPath: '/models',
  supports: new Set<OptionName>([
    'tools',
    'tool_choice',
    'parallel_tool_calls',
    'response_format',
    'seed',
    'presence_penalty',
    'frequency_penalty',
    'logit_bias',
    'user',
    'logprobs',
    'top_logprobs',
    'temperature',
    'top_p',
    'stop',
    'name',
  ]),

  authHeaders(apiKey): Record<string, string> {
    return apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  },

  chatBody(model: string, request: GenerationRequest, options: DialectOptions): string {
    return JSON.stringify({
      model,
      messages: request.messages.map(openaiMessage),
      stream: true,
      ...(options.includeUsage ? { stream_options: { include_usage: true } } : {}),
      [options.maxTokensField]: request.maxOutputTokens,
      ...samplingFields(request.params, 'stop'),
      ...(request.options ? openaiOptions(request.options) : {}),
    });
  },

  parseModels(json: unknown): ListedModel[] {
    const data = (json as { data?: unknown })?.data;
    if (!Array.isArray(data)) throw new Error('the models listing has no data array');
    return data
      .filter((m): m is Record<string, any> => typeof m?.id === 'string' && !NOT_CHAT_RE.test(m.id))
      .map((m) => ({
        id: m.id,
        name: typeof m.name === 'string' ? m.name : m.id,
        contextLength: positiveInt(m.context_length ?? m.top_provider?.context_length ?? m.max_model_len),
        pricing: perMillion(m.pricing?.prompt, m.pricing?.completion),
      }));
  },

  errorInfo: openaiErrorInfo,

  decoder(): StreamDecoder {
    return new OpenAIDecoder();
  },
};

/** Our message as Chat Completions has it (plain turns are already in its shape). */
function openaiMessage(m: ChatMessage): object {
  if (m.role === 'tool') return { role: 'tool', tool_call_id: m.toolCallId, content: m.content };
  if (!m.toolCalls?.length) return m;
  return {
    role: 'assistant',
    content: m.content === '' ? null : m.content,
    ...(m.name !== undefined ? { name: m.name } : {}),
    tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })),
  };
}

/** Options as Chat Completions fields: tools and tool_choice back in their wire shape, the rest verbatim. */
function openaiOptions(o: GenerationOptions): Record<string, unknown> {
  const { tools, tool_choice: choice, ...rest } = o;
  return {
    ...rest,
    ...(tools ? { tools: tools.map((t) => ({ type: 'function', function: t })) } : {}),
    ...(choice !== undefined ? { tool_choice: typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } } } : {}),
  };
}

/** Ids in OpenAI's own listing that are not chat models (embeddings, audio, images, moderation). */
const NOT_CHAT_RE =
  /(^|[-/])(text-embedding|embedding|whisper|tts|dall-e|gpt-image|moderation|davinci|babbage|omni-moderation)|transcribe|-realtime|-audio|-search-/i;

export function openaiErrorInfo(body: string): UpstreamErrorInfo {
  try {
    const json = JSON.parse(body);
    const error = json?.error ?? json;
    const type = [error?.code, error?.type].filter((v) => typeof v === 'string').join(' ') || undefined;
    const message = typeof error?.message === 'string' ? error.message : typeof error === 'string' ? error : undefined;
    return { type, message };
  } catch {
    return { message: body.slice(0, 300) || undefined };
  }
}

const FINISH_REASONS: Record<string, FinishReason> = {
  stop: 'stop',
  length: 'length',
  content_filter: 'content_filter',
  tool_calls: 'tool_calls',
  function_call: 'tool_calls',
  eos: 'stop',
};

class OpenAIDecoder implements StreamDecoder {
  private finishReason: FinishReason | undefined;
  private usage = emptyUsage();

  event(event: UpstreamSseEvent): GenerationChunk[] | 'done' {
    if (event.data === '[DONE]') return 'done';
    const fast = contentOnly(event.data) ?? roleOnly(event.data);
    if (fast !== undefined) return fast;
    const chunk = parseJson(event.data);
    if (chunk.error) {
      // Mid-stream errors arrive as a data payload; OpenRouter adds the HTTP-like status as `code`.
      const info = openaiErrorInfo(event.data);
      const status = typeof chunk.error.code === 'number' ? chunk.error.code : 500;
      throw classifyHttpError(status, {}, info);
    }
    if (chunk.usage) {
      this.usage = { inputTokens: chunk.usage.prompt_tokens ?? 0, outputTokens: chunk.usage.completion_tokens ?? 0 };
    }
    const out: GenerationChunk[] = [];
    for (const choice of Array.isArray(chunk.choices) ? chunk.choices : []) {
      if ((choice.index ?? 0) !== 0) continue;
      const delta = choice.delta ?? {};
      const reasoning = delta.reasoning_content ?? delta.reasoning;
      if (typeof reasoning === 'string' && reasoning !== '') out.push({ type: 'reasoning', text: reasoning });
      if (typeof delta.content === 'string' && delta.content !== '') {
        out.push(choice.logprobs ? { type: 'delta', text: delta.content, logprobs: choice.logprobs } : { type: 'delta', text: delta.content });
      }
      if (Array.isArray(delta.tool_calls)) {
        for (const call of delta.tool_calls) {
          const fn = call?.function ?? {};
          out.push({
            type: 'tool_call',
            index: typeof call?.index === 'number' ? call.index : 0,
            id: typeof call?.id === 'string' ? call.id : undefined,
            name: typeof fn.name === 'string' ? fn.name : undefined,
            arguments: typeof fn.arguments === 'string' ? fn.arguments : '',
          });
        }
      }
      if (typeof choice.finish_reason === 'string') {
        if (choice.finish_reason === 'error') throw new ModelError('upstream_error', 'The provider ended the answer with an error.');
        this.finishReason = FINISH_REASONS[choice.finish_reason] ?? 'stop';
      }
    }
    return out;
  }

  finish(): Extract<GenerationChunk, { type: 'finish' }> {
    // Some servers omit [DONE]; a finish_reason is then the proof the answer is whole.
    if (!this.finishReason) throw new ModelError('upstream_error', 'The provider ended the stream before the answer finished.', { retryable: false });
    return { type: 'finish', finishReason: this.finishReason, usage: this.usage };
  }
}

const CONTENT_HEAD = '"choices":[{"index":0,"delta":{"content":"';
const CONTENT_TAIL = '},"logprobs":null,"finish_reason":null}]';
/** A valid JSON string literal (copied to clients as it is, so it must be one). */
const JSON_STRING_RE = /^"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"$/;

/** A text delta whose text is decoded only if someone reads it; a relay copies `json` as it came. */
class RawTextDelta {
  readonly type = 'delta';
  private decoded: string | undefined;
  constructor(readonly json: string) {}
  get text(): string {
    return (this.decoded ??= JSON.parse(this.json) as string);
  }
}

/**
 * The bulk of a stream, a chunk carrying only text, recognised by its shape without parsing it
 * whole: the choices are exactly `[{"index":0,"delta":{"content":"…"},"logprobs":null,"finish_reason":null}]`
 * and every other field is flat (no `{` or `[` outside the text, so no usage, error or tool call
 * hides in it). Anything else returns undefined and takes the full parse.
 */
function contentOnly(data: string): GenerationChunk[] | undefined {
  const at = data.indexOf(CONTENT_HEAD);
  if (at === -1 || data.charCodeAt(0) !== 123 || data.indexOf('{', 1) < at || data.indexOf('[') < at) return undefined;
  const open = at + CONTENT_HEAD.length - 1;
  let close = data.indexOf('"', open + 1);
  for (;;) {
    if (close === -1) return undefined;
    let slashes = 0;
    while (data.charCodeAt(close - 1 - slashes) === 92) slashes++;
    if (slashes % 2 === 0) break;
    close = data.indexOf('"', close + 1);
  }
  if (!data.startsWith(CONTENT_TAIL, close + 1)) return undefined;
  const rest = close + 1 + CONTENT_TAIL.length;
  if (data.indexOf('{', rest) !== -1 || data.indexOf('[', rest) !== -1 || data.charCodeAt(data.length - 1) !== 125) return undefined;
  if (close === open + 1) return []; // empty text
  const literal = data.slice(open, close + 1);
  return JSON_STRING_RE.test(literal) ? [new RawTextDelta(literal)] : undefined; // a malformed one gets the full parse's error
}

const ROLE_CHOICES = '"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]';

/**
 * A stream's opening chunk, the role with empty content, recognised as `contentOnly` does: it
 * carries nothing for us (the full parse would return no chunks either).
 */
function roleOnly(data: string): GenerationChunk[] | undefined {
  const at = data.indexOf(ROLE_CHOICES);
  if (at === -1 || data.charCodeAt(0) !== 123 || data.indexOf('{', 1) < at || data.indexOf('[') < at) return undefined;
  const rest = at + ROLE_CHOICES.length;
  if (data.indexOf('{', rest) !== -1 || data.indexOf('[', rest) !== -1 || data.charCodeAt(data.length - 1) !== 125) return undefined;
  return [];
}

/** JSON of a data line; anything else is a protocol error of the provider. */
export function parseJson(data: string): any {
  try {
    const value = JSON.parse(data);
    if (typeof value === 'object' && value !== null) return value;
  } catch {
    // fall through
  }
  throw new ModelError('upstream_error', `The provider sent a malformed event: ${JSON.stringify(data.slice(0, 120))}`, { retryable: false });
}

export function positiveInt(v: unknown): number | null {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : null;
}

/** OpenRouter prices are USD per token, as strings. */
function perMillion(prompt: unknown, completion: unknown): ListedModel['pricing'] {
  const p = Number(prompt);
  const c = Number(completion);
  if (prompt === undefined || completion === undefined || !Number.isFinite(p) || !Number.isFinite(c) || p < 0 || c < 0) return undefined;
  return { inputPerMillion: round(p * 1e6), outputPerMillion: round(c * 1e6) };
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
