import { randomBytes } from 'node:crypto';
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
  readonly id = `chatcmpl-${randomBytes(12).toString('base64url')}`;
  readonly created = Math.floor(Date.now() / 1000);

  constructor(private readonly provider: Provider, private readonly request: GenerationRequest) {}

  /** `chat.completion.chunk` objects; with `includeUsage`, a last chunk with `choices: []` and the usage. */
  async *chunks(includeUsage: boolean): AsyncGenerator<Json, void, undefined> {
    const base = { id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.request.model, system_fingerprint: null };
    const usageField = includeUsage ? { usage: null } : {};
    let first = true;
    let deltas = 0;
    for await (const chunk of this.provider.stream(this.request)) {
      if (chunk.type === 'finish') {
        const delta = first ? { role: 'assistant', content: '' } : {};
        yield { ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: chunk.finishReason }], ...usageField };
        if (includeUsage) yield { ...base, choices: [], usage: openaiUsage(chunk.usage, deltas) };
        return;
      }
      if (chunk.text === '') continue;
      const field = chunk.type === 'delta' ? 'content' : 'reasoning_content';
      if (chunk.type === 'delta') deltas++;
      const delta = first ? { role: 'assistant', [field]: chunk.text } : { [field]: chunk.text };
      first = false;
      yield { ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: null }], ...usageField };
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
      else {
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
