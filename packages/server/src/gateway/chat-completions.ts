import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { ModelCatalogue } from '../llm/catalogue.js';
import { ModelError, type ChatMessage, type GenerationChunk, type GenerationRequest, type Provider, type ToolChoice, type Usage } from '../llm/provider.js';
import { definedOptions, prepareGeneration } from './generation.js';

type Content = string | { type: 'text'; text: string }[];
type FunctionSpec = { name: string; description?: string | undefined; parameters?: Record<string, unknown> | undefined; strict?: boolean | null | undefined };

/** An OpenAI Chat Completions request, as validated by the route. */
export interface ChatCompletionRequest {
  model: string;
  messages: (
    | { role: 'system' | 'developer' | 'user'; content: Content; name?: string | undefined }
    | {
        role: 'assistant';
        content?: Content | null | undefined;
        name?: string | undefined;
        tool_calls?: { id: string; function: { name: string; arguments: string } }[] | undefined;
      }
    | { role: 'tool'; content: Content; tool_call_id: string }
  )[];
  max_tokens?: number | null | undefined;
  max_completion_tokens?: number | null | undefined;
  temperature?: number | null | undefined;
  top_p?: number | null | undefined;
  stop?: string | string[] | null | undefined;
  tools?: { type: 'function'; function: FunctionSpec }[] | null | undefined;
  tool_choice?: 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } } | null | undefined;
  parallel_tool_calls?: boolean | null | undefined;
  response_format?: { type: string; [k: string]: unknown } | null | undefined;
  seed?: number | null | undefined;
  presence_penalty?: number | null | undefined;
  frequency_penalty?: number | null | undefined;
  logit_bias?: Record<string, number> | null | undefined;
  user?: string | null | undefined;
  logprobs?: boolean | null | undefined;
  top_logprobs?: number | null | undefined;
}

type Json = Record<string, unknown>;

/** Where a streamed completion goes: the `chat.completion.chunk` JSON texts of one upstream read per write. */
export interface ChunkSink {
  /** False asks the run to wait for `drained()` before the next chunk. */
  write(jsons: string[]): boolean;
  drained(): Promise<void>;
}

const ROLE_DELTA = '{"role":"assistant","content":""}';

/**
 * The OpenAI-compatible gateway: one request to any catalogue model (demo included), answered
 * as OpenAI's `chat.completion` or as its stream of `chat.completion.chunk` objects, tool
 * calls included. Knows nothing of HTTP; the caller's signal (a client that went away) aborts
 * the upstream.
 */
export class ChatCompletions {
  constructor(private readonly deps: { catalogue: ModelCatalogue; tiers: Config['compare']['tiers'] }) {}

  /** Resolves the model and refuses what its provider cannot honour, before any upstream call. */
  start(body: ChatCompletionRequest, signal: AbortSignal): CompletionRun {
    const { provider, request } = prepareGeneration(this.deps.catalogue, {
      model: body.model,
      messages: body.messages.map(toChatMessage),
      maxOutputTokens: body.max_completion_tokens ?? body.max_tokens ?? this.deps.tiers.extended.maxOutputTokens,
      temperature: body.temperature,
      top_p: body.top_p,
      stop: body.stop == null ? undefined : Array.isArray(body.stop) ? body.stop : [body.stop],
      options: chatOptions(body),
      signal,
    });
    return new CompletionRun(provider, request);
  }
}

export class CompletionRun {
  // randomUUID draws from a cached pool: a synchronous randomBytes here cost ~65 µs of each request's path to the upstream (measured).
  readonly id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
  readonly created = Math.floor(Date.now() / 1000);
  /** Tokens of the finished run (for the caller's daily token limit); undefined until it finishes. */
  tokens: number | undefined;

  constructor(
    private readonly provider: Provider,
    private readonly request: GenerationRequest,
  ) {}

  /**
   * Streams `chat.completion.chunk` JSON texts into `sink`, in OpenAI's order: the role chunk,
   * content (reasoning, tool call) chunks; resolves with the last ones — the finish chunk and,
   * with `includeUsage`, a chunk with `choices: []` and the usage — for the caller to write
   * with its end marker in one write. Rejects with the provider's error; a sink that returns
   * false pauses the upstream until it drains. Chunk texts are built from a fixed prefix: this
   * runs once per token for every open stream.
   */
  async pipe(includeUsage: boolean, sink: ChunkSink): Promise<string[]> {
    const texts = new ChunkTexts(this, this.request.model, includeUsage);
    const { provider, request } = this;
    if (provider.relay) {
      // Pushed from each upstream read: no promise hop per read between the upstream and the client.
      let last: string[] | undefined;
      await provider.relay(request, {
        batch: (batch) => {
          const out = texts.of(batch);
          if (texts.finished) last = out;
          else if (out.length > 0) return sink.write(out);
          return true;
        },
        drained: () => sink.drained(),
      });
      if (last) return last;
    } else {
      // One write per upstream read: a read that carried several events leaves in one socket write.
      for await (const batch of batchesOf(provider, request)) {
        const out = texts.of(batch);
        if (texts.finished) return out;
        if (out.length > 0 && !sink.write(out)) await sink.drained();
      }
    }
    throw new ModelError('upstream_error', 'The provider ended the stream without finishing it.');
  }

  /** The whole `chat.completion`. */
  async whole(): Promise<Json> {
    let text = '';
    let reasoning = '';
    let deltas = 0;
    const calls = new ToolCallAssembler();
    const logprobs: unknown[] = [];
    for await (const chunk of this.provider.stream(this.request)) {
      if (chunk.type === 'delta') {
        text += chunk.text;
        deltas++;
        const content = (chunk.logprobs as { content?: unknown } | undefined)?.content;
        if (Array.isArray(content)) logprobs.push(...content);
      } else if (chunk.type === 'reasoning') reasoning += chunk.text;
      else if (chunk.type === 'tool_call') calls.add(chunk);
      else if (chunk.type === 'finish') {
        this.tokens = chunk.usage.inputTokens + (chunk.usage.outputTokens || deltas);
        const toolCalls = calls.list();
        return {
          id: this.id,
          object: 'chat.completion',
          created: this.created,
          model: this.request.model,
          system_fingerprint: null,
          choices: [
            {
              index: 0,
              logprobs: this.request.options?.logprobs ? { content: logprobs, refusal: null } : null,
              finish_reason: chunk.finishReason,
              message: {
                role: 'assistant',
                content: toolCalls.length > 0 && text === '' ? null : text,
                refusal: null,
                ...(reasoning ? { reasoning_content: reasoning } : {}),
                ...(toolCalls.length > 0
                  ? { tool_calls: toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) }
                  : {}),
              },
            },
          ],
          usage: openaiUsage(chunk.usage, deltas),
        };
      }
    }
    throw new ModelError('upstream_error', 'The provider ended the stream without finishing it.');
  }
}

/** The provider's chunks grouped per upstream read where it can, else one by one. */
function batchesOf(provider: Provider, request: GenerationRequest): AsyncIterable<GenerationChunk[]> {
  return provider.streamBatches ? provider.streamBatches(request) : singles(provider.stream(request));
}

async function* singles(chunks: AsyncIterable<GenerationChunk>): AsyncIterable<GenerationChunk[]> {
  for await (const chunk of chunks) yield [chunk];
}

/**
 * A run's chunks as `chat.completion.chunk` JSON texts, in OpenAI's order: the role chunk,
 * content (reasoning, tool call) chunks, then at the finish the finish chunk and, with
 * `includeUsage`, a chunk with `choices: []` and the usage. Built from a fixed prefix: this
 * runs once per token for every open stream.
 */
class ChunkTexts {
  private readonly prefix: string;
  private readonly suffix: string;
  private first = true;
  private deltas = 0;
  /** The finish chunk came: the last texts were returned. */
  finished = false;

  constructor(
    private readonly run: CompletionRun,
    model: string,
    private readonly includeUsage: boolean,
  ) {
    this.prefix = `{"id":${JSON.stringify(run.id)},"object":"chat.completion.chunk","created":${run.created},"model":${JSON.stringify(model)},"system_fingerprint":null,"choices":`;
    this.suffix = includeUsage ? ',"usage":null}' : '}';
  }

  of(batch: GenerationChunk[]): string[] {
    const texts: string[] = [];
    for (const chunk of batch) {
      switch (chunk.type) {
        case 'finish': {
          this.run.tokens = chunk.usage.inputTokens + (chunk.usage.outputTokens || this.deltas);
          texts.push(this.choice(this.first ? ROLE_DELTA : '{}', JSON.stringify(chunk.finishReason)));
          if (this.includeUsage) texts.push(`${this.prefix}[],"usage":${JSON.stringify(openaiUsage(chunk.usage, this.deltas))}}`);
          this.finished = true;
          return texts;
        }
        case 'start':
          // OpenAI's own first chunk: the role, no text. It lets the response start before the first token.
          if (!this.first) continue;
          texts.push(this.choice(ROLE_DELTA, 'null'));
          break;
        case 'tool_call':
          texts.push(this.choice(`{${this.first ? '"role":"assistant",' : ''}"tool_calls":[${toolCallDelta(chunk)}]}`, 'null'));
          break;
        default: {
          // The upstream's own string literal when the decoder kept it: no decode and re-encode per token.
          const json = chunk.type === 'delta' && chunk.json !== undefined ? chunk.json : chunk.text === '' ? undefined : JSON.stringify(chunk.text);
          if (json === undefined) continue;
          const field = chunk.type === 'delta' ? 'content' : 'reasoning_content';
          const logprobs = chunk.type === 'delta' && chunk.logprobs !== undefined ? JSON.stringify(chunk.logprobs) : 'null';
          if (chunk.type === 'delta') this.deltas++;
          texts.push(this.choice(`{${this.first ? '"role":"assistant",' : ''}"${field}":${json}}`, 'null', logprobs));
        }
      }
      this.first = false;
    }
    return texts;
  }

  private choice(delta: string, finish: string, logprobs = 'null'): string {
    return `${this.prefix}[{"index":0,"delta":${delta},"logprobs":${logprobs},"finish_reason":${finish}}]${this.suffix}`;
  }
}

/** A tool call chunk as the element of a streamed `delta.tool_calls`, in OpenAI's shape. */
function toolCallDelta(c: Extract<GenerationChunk, { type: 'tool_call' }>): string {
  return c.id !== undefined
    ? `{"index":${c.index},"id":${JSON.stringify(c.id)},"type":"function","function":{"name":${JSON.stringify(c.name ?? '')},"arguments":${JSON.stringify(c.arguments)}}}`
    : `{"index":${c.index},"function":{"arguments":${JSON.stringify(c.arguments)}}}`;
}

/** Joins streamed tool call pieces into whole calls, in index order. */
export class ToolCallAssembler {
  private readonly calls = new Map<number, { id: string; name: string; arguments: string }>();

  add(c: Extract<GenerationChunk, { type: 'tool_call' }>): { id: string; name: string; arguments: string } {
    let call = this.calls.get(c.index);
    if (!call) {
      if (c.id === undefined) throw new ModelError('upstream_error', 'The provider continued a tool call it never started.', { retryable: false });
      call = { id: c.id, name: c.name ?? '', arguments: '' };
      this.calls.set(c.index, call);
    }
    call.arguments += c.arguments;
    return call;
  }

  list(): { id: string; name: string; arguments: string }[] {
    return [...this.calls.entries()].sort(([a], [b]) => a - b).map(([, c]) => c);
  }
}

function textOf(content: Content | null | undefined): string {
  return content == null ? '' : typeof content === 'string' ? content : content.map((p) => p.text).join('');
}

function toChatMessage(m: ChatCompletionRequest['messages'][number]): ChatMessage {
  if (m.role === 'tool') return { role: 'tool', content: textOf(m.content), toolCallId: m.tool_call_id };
  const out: ChatMessage = { role: m.role === 'developer' ? 'system' : m.role, content: textOf(m.content) };
  if (m.name !== undefined) out.name = m.name;
  if (m.role === 'assistant' && m.tool_calls?.length)
    out.toolCalls = m.tool_calls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }));
  return out;
}

/** The request's options in our terms; `response_format: text` and `logprobs: false` are the defaults, so they ask nothing. */
function chatOptions(body: ChatCompletionRequest) {
  const choice = body.tool_choice;
  return definedOptions({
    tools: body.tools?.map((t) => t.function),
    tool_choice: choice == null ? undefined : typeof choice === 'string' ? choice : ({ name: choice.function.name } satisfies ToolChoice),
    parallel_tool_calls: body.parallel_tool_calls,
    response_format: body.response_format?.type === 'text' ? undefined : body.response_format,
    seed: body.seed,
    presence_penalty: body.presence_penalty,
    frequency_penalty: body.frequency_penalty,
    logit_bias: body.logit_bias,
    user: body.user,
    logprobs: body.logprobs || undefined,
    top_logprobs: body.top_logprobs,
  });
}

export function openaiUsage(usage: Usage, countedDeltas: number): Json {
  const completion = usage.outputTokens || countedDeltas;
  return { prompt_tokens: usage.inputTokens, completion_tokens: completion, total_tokens: usage.inputTokens + completion };
}
