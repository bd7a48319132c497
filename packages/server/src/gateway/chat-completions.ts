import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { TributaryError } from '../errors.js';
import type { ModelCatalogue } from '../llm/catalogue.js';
import { ModelError, type ChatMessage, type GenerationRequest, type Provider, type Usage } from '../llm/provider.js';

/** An OpenAI Chat Completions request, as validated by the route. */
export interface ChatCompletionRequest {
  model: string;
  messages: { role: 'system' | 'developer' | 'user' | 'assistant'; content: string | { type: 'text'; text: string }[] | null }[];
  max_tokens?: number | null | undefined;
  max_completion_tokens?: number | null | undefined;
  temperature?: number | null | undefined;
  top_p?: number | null | undefined;
  stop?: string | string[] | null | undefined;
}

type Json = Record<string, unknown>;

/** Where a streamed completion goes: one `chat.completion.chunk` JSON text per write. */
export interface ChunkSink {
  /** False asks the run to wait for `drained()` before the next chunk. */
  write(json: string): boolean;
  drained(): Promise<void>;
}

const ROLE_DELTA = '{"role":"assistant","content":""}';

/**
 * The OpenAI-compatible gateway: one request to any catalogue model (demo included), answered
 * as OpenAI's `chat.completion` or as its stream of `chat.completion.chunk` objects. Knows
 * nothing of HTTP; the caller's signal (a client that went away) aborts the upstream.
 */
export class ChatCompletions {
  constructor(private readonly deps: { catalogue: ModelCatalogue; tiers: Config['compare']['tiers'] }) {}

  /** Resolves the model (unknown ids fail here, before any upstream call) and prepares the run. */
  start(body: ChatCompletionRequest, signal: AbortSignal): CompletionRun {
    const resolved = this.deps.catalogue.resolve(body.model);
    if (!resolved) throw new TributaryError('invalid_model', `The model \`${body.model}\` does not exist; GET /v1/models lists the models.`, { param: 'model' });
    const stop = body.stop == null ? undefined : Array.isArray(body.stop) ? body.stop : [body.stop];
    const request: GenerationRequest = {
      model: body.model,
      messages: body.messages.map(toChatMessage),
      maxOutputTokens: body.max_completion_tokens ?? body.max_tokens ?? this.deps.tiers.extended.maxOutputTokens,
      tier: 'standard',
      signal,
      params: { temperature: body.temperature ?? undefined, topP: body.top_p ?? undefined, stop },
    };
    return new CompletionRun(resolved.provider, request);
  }
}

export class CompletionRun {
  // randomUUID draws from a cached pool: a synchronous randomBytes here cost ~65 µs of each request's path to the upstream (measured).
  readonly id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
  readonly created = Math.floor(Date.now() / 1000);
  /** Tokens of the finished run (for the caller's daily token limit); undefined until it finishes. */
  tokens: number | undefined;

  constructor(private readonly provider: Provider, private readonly request: GenerationRequest) {}

  /**
   * Streams `chat.completion.chunk` JSON texts into `sink`, in OpenAI's order: the role chunk,
   * content (and reasoning) chunks, the finish chunk and, with `includeUsage`, a last chunk with
   * `choices: []` and the usage. Rejects with the provider's error; a sink that returns false
   * pauses the upstream until it drains. Chunk texts are built from a fixed prefix: this runs
   * once per token for every open stream.
   */
  async pipe(includeUsage: boolean, sink: ChunkSink): Promise<void> {
    const prefix = `{"id":${JSON.stringify(this.id)},"object":"chat.completion.chunk","created":${this.created},"model":${JSON.stringify(this.request.model)},"system_fingerprint":null,"choices":`;
    const suffix = includeUsage ? ',"usage":null}' : '}';
    const choice = (delta: string, finish: string | null) => `${prefix}[{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finish}}]${suffix}`;
    let first = true;
    let deltas = 0;
    for await (const chunk of this.provider.stream(this.request)) {
      let text: string;
      if (chunk.type === 'finish') {
        this.tokens = chunk.usage.inputTokens + (chunk.usage.outputTokens || deltas);
        const tail = [choice(first ? ROLE_DELTA : '{}', JSON.stringify(chunk.finishReason))];
        if (includeUsage) tail.push(`${prefix}[],"usage":${JSON.stringify(openaiUsage(chunk.usage, deltas))}}`);
        for (const t of tail) if (!sink.write(t)) await sink.drained();
        return;
      }
      if (chunk.type === 'start') {
        // OpenAI's own first chunk: the role, no text. It lets the response start before the first token.
        if (!first) continue;
        text = choice(ROLE_DELTA, 'null');
      } else {
        if (chunk.text === '') continue;
        const field = chunk.type === 'delta' ? 'content' : 'reasoning_content';
        if (chunk.type === 'delta') deltas++;
        text = choice(`{${first ? '"role":"assistant",' : ''}"${field}":${JSON.stringify(chunk.text)}}`, 'null');
      }
      first = false;
      if (!sink.write(text)) await sink.drained();
    }
    throw new ModelError('upstream_error', 'The provider ended the stream without finishing it.');
  }

  /** The whole `chat.completion`. */
  async whole(): Promise<Json> {
    let text = '';
    let reasoning = '';
    let deltas = 0;
    for await (const chunk of this.provider.stream(this.request)) {
      if (chunk.type === 'delta') {
        text += chunk.text;
        deltas++;
      } else if (chunk.type === 'reasoning') reasoning += chunk.text;
      else if (chunk.type === 'finish') {
        this.tokens = chunk.usage.inputTokens + (chunk.usage.outputTokens || deltas);
        return {
          id: this.id, object: 'chat.completion', created: this.created, model: this.request.model, system_fingerprint: null,
          choices: [{
            index: 0, logprobs: null, finish_reason: chunk.finishReason,
            message: { role: 'assistant', content: text, refusal: null, ...(reasoning ? { reasoning_content: reasoning } : {}) },
          }],
          usage: openaiUsage(chunk.usage, deltas),
        };
      }
    }
    throw new ModelError('upstream_error', 'The provider ended the stream without finishing it.');
  }
}

function toChatMessage(m: ChatCompletionRequest['messages'][number]): ChatMessage {
  const content = m.content == null ? '' : typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join('');
  return { role: m.role === 'developer' ? 'system' : m.role, content };
}

function openaiUsage(usage: Usage, countedDeltas: number): Json {
  const completion = usage.outputTokens || countedDeltas;
  return { prompt_tokens: usage.inputTokens, completion_tokens: completion, total_tokens: usage.inputTokens + completion };
}
