import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { TributaryError } from '../errors.js';
import type { ModelCatalogue } from '../llm/catalogue.js';
import { ModelError, type ChatMessage, type GenerationChunk, type GenerationRequest, type Provider, type Usage } from '../llm/provider.js';
import { definedOptions, prepareGeneration } from './generation.js';
import { toOpenAIError } from './openai-errors.js';

type Json = Record<string, unknown>;
type Part = { type: 'input_text' | 'output_text'; text: string };
type OutputItem = { type: 'message'; role: 'assistant'; content: Part[] } | { type: 'function_call'; call_id: string; name: string; arguments: string };
type InputItem =
  | { type?: 'message' | undefined; role: 'system' | 'developer' | 'user' | 'assistant'; content: string | Part[] }
  | OutputItem
  | { type: 'function_call_output'; call_id: string; output: string | Part[] }
  | { type: 'item_reference'; id: string };
type TextFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; name: string; schema?: Json | undefined; description?: string | undefined; strict?: boolean | null | undefined };

/** An OpenAI Responses request, as validated by the route. */
export interface ResponsesRequest {
  model: string;
  input: string | InputItem[];
  instructions?: string | null | undefined;
  max_output_tokens?: number | null | undefined;
  temperature?: number | null | undefined;
  top_p?: number | null | undefined;
  tools?:
    | { type: 'function'; name: string; description?: string | null | undefined; parameters?: Json | null | undefined; strict?: boolean | null | undefined }[]
    | null
    | undefined;
  tool_choice?: 'auto' | 'none' | 'required' | { type: 'function'; name: string } | null | undefined;
  parallel_tool_calls?: boolean | null | undefined;
  text?: { format?: TextFormat | undefined } | null | undefined;
  user?: string | null | undefined;
  metadata?: Record<string, string> | null | undefined;
  store?: boolean | null | undefined;
  previous_response_id?: string | null | undefined;
  include?: string[] | null | undefined;
  truncation?: 'auto' | 'disabled' | null | undefined;
}

/** Input item types this server understands; others are refused by name, not as a schema error. */
const INPUT_TYPES = new Set(['message', 'function_call', 'function_call_output', 'item_reference']);

/** Output items kept for `item_reference` inputs (clients such as the AI SDK send them for items they received), oldest dropped first. */
export const REMEMBERED_ITEMS = 10_000;

/** Where a streamed response goes: one server-sent event per write. */
export interface ResponseEventSink {
  write(type: string, json: string): boolean;
  drained(): Promise<void>;
}

/**
 * `POST /v1/responses` over every catalogue model: text or message input, `instructions`,
 * function tools (`function_call` items out, `function_call_output` items in), streamed as
 * OpenAI's typed events with `sequence_number`, or whole. Responses are not stored, so
 * `previous_response_id` is refused; the last REMEMBERED_ITEMS output items are kept in memory
 * so that a later request may name them with `item_reference`.
 */
export class Responses {
  private readonly items = new Map<string, OutputItem>();

  constructor(private readonly deps: { catalogue: ModelCatalogue; tiers: Config['compare']['tiers'] }) {}

  private remember(id: string, item: OutputItem): void {
    this.items.set(id, item);
    if (this.items.size > REMEMBERED_ITEMS) this.items.delete(this.items.keys().next().value as string);
  }

  /** The input with every `item_reference` replaced by the output item it names. */
  private resolveReferences(input: ResponsesRequest['input']): ResponsesRequest['input'] {
    if (typeof input === 'string' || !input.some((item) => item.type === 'item_reference')) return input;
    return input.map((item, i) => {
      if (item.type !== 'item_reference') return item;
      const found = this.items.get(item.id);
      if (!found)
        throw new TributaryError(
          'invalid_field',
          `input[${i}]: no output item \`${item.id}\` is known here (the last ${REMEMBERED_ITEMS} are kept in memory).`,
          { field: `input[${i}].id` },
        );
      return found;
    });
  }

  /** Refuses unknown input item types before the schema sees them, so the error names the type. */
  static checkInputTypes(body: unknown): void {
    const input = (body as { input?: unknown } | null)?.input;
    if (!Array.isArray(input)) return;
    input.forEach((item, i) => {
      const type = (item as { type?: unknown } | null)?.type;
      if (type === undefined || (typeof type === 'string' && INPUT_TYPES.has(type))) return;
      throw new TributaryError('unsupported_parameter', `Input items of type \`${String(type)}\` are not supported.`, { param: `input[${i}].type` });
    });
  }

  start(body: ResponsesRequest, signal: AbortSignal): ResponseRun {
    if (body.previous_response_id != null) {
      throw new TributaryError(
        'unsupported_parameter',
        'Responses are not stored, so `previous_response_id` cannot be honoured; send the conversation as `input`.',
        { param: 'previous_response_id' },
      );
    }
    if (body.include?.length)
      throw new TributaryError('unsupported_parameter', '`include` cannot be honoured: no extra output data is available.', { param: 'include' });
    if (body.truncation === 'auto')
      throw new TributaryError('unsupported_parameter', '`truncation: auto` cannot be honoured; the conversation is sent whole.', { param: 'truncation' });
    const format = body.text?.format;
    const choice = body.tool_choice;
    const { provider, request } = prepareGeneration(
      this.deps.catalogue,
      {
        model: body.model,
        messages: toMessages(body.instructions, this.resolveReferences(body.input)),
        maxOutputTokens: body.max_output_tokens ?? this.deps.tiers.extended.maxOutputTokens,
        temperature: body.temperature,
        top_p: body.top_p,
        options: definedOptions({
          tools: body.tools?.map((t) => ({ name: t.name, description: t.description ?? undefined, parameters: t.parameters ?? undefined, strict: t.strict })),
          tool_choice: choice == null ? undefined : typeof choice === 'string' ? choice : { name: choice.name },
          parallel_tool_calls: body.parallel_tool_calls,
          response_format:
            !format || format.type === 'text'
              ? undefined
              : format.type === 'json_object'
                ? { type: 'json_object' }
                : {
                    type: 'json_schema',
                    json_schema: definedOptions({ name: format.name, schema: format.schema, description: format.description, strict: format.strict }),
                  },
          user: body.user,
        }),
        signal,
      },
      { response_format: 'text.format' },
    );
    return new ResponseRun(provider, request, body, (id, item) => this.remember(id, item));
  }
}

interface OpenItem {
  outputIndex: number;
  item: Json & { id: string };
  /** Message items: the text so far. Function calls: the arguments so far. */
  text: string;
}

export class ResponseRun {
  readonly id = `resp_${randomUUID().replaceAll('-', '')}`;
  readonly createdAt = Math.floor(Date.now() / 1000);
  private sequence = 0;
  private readonly output: Json[] = [];
  private message: OpenItem | undefined;
  private readonly calls = new Map<number, OpenItem>();
  private sink: ResponseEventSink | undefined;
  private started = false;

  constructor(
    private readonly provider: Provider,
    private readonly request: GenerationRequest,
    private readonly body: ResponsesRequest,
    private readonly remember: (id: string, item: OutputItem) => void,
  ) {}

  /**
   * Streams the response's events into `sink`: `response.created`, `response.in_progress`, the
   * output items with their parts and deltas, and `response.completed` (or `.incomplete`) with
   * usage. Rejects with the provider's error before the first event; after it, the failure is
   * sent as `error` and `response.failed` events and the promise resolves.
   */
  async pipe(sink: ResponseEventSink): Promise<void> {
    this.sink = sink;
    try {
      await this.run();
    } catch (err) {
      if (!this.started) throw err;
      const { body } = toOpenAIError(err);
      await this.emit('error', { code: body.error.code, message: body.error.message, param: body.error.param });
      await this.emit('response.failed', { response: this.object('failed', null, { code: body.error.code, message: body.error.message }) });
    }
  }

  /** The whole `response` object. */
  async whole(): Promise<Json> {
    return this.run();
  }

  private async run(): Promise<Json> {
    for await (const chunk of this.provider.stream(this.request)) {
      if (!this.started) {
        this.started = true;
        const response = this.object('in_progress', null);
        await this.emit('response.created', { response });
        await this.emit('response.in_progress', { response });
      }
      switch (chunk.type) {
        case 'delta':
          if (chunk.text !== '') await this.text(chunk.text);
          break;
        case 'tool_call':
          await this.toolCall(chunk);
          break;
        case 'finish': {
          await this.closeMessage();
          for (const call of [...this.calls.values()].sort((a, b) => a.outputIndex - b.outputIndex)) await this.closeCall(call);
          this.calls.clear();
          const incomplete = chunk.finishReason === 'length' ? 'max_output_tokens' : chunk.finishReason === 'content_filter' ? 'content_filter' : undefined;
          const response = this.object(incomplete ? 'incomplete' : 'completed', chunk.usage, null, incomplete);
          await this.emit(incomplete ? 'response.incomplete' : 'response.completed', { response });
          return response;
        }
        default:
          break; // `start`; reasoning text has no Responses item here
      }
    }
    throw new ModelError('upstream_error', 'The provider ended the stream without finishing it.');
  }

  private async text(delta: string): Promise<void> {
    if (!this.message) {
      const outputIndex = this.output.length;
      const item = { id: `msg_${randomUUID().replaceAll('-', '')}`, type: 'message', status: 'in_progress', content: [] as Json[], role: 'assistant' };
      this.output.push(item);
      this.message = { outputIndex, item, text: '' };
      await this.emit('response.output_item.added', { output_index: outputIndex, item });
      await this.emit('response.content_part.added', { item_id: item.id, output_index: outputIndex, content_index: 0, part: outputText('') });
    }
    this.message.text += delta;
    await this.emit('response.output_text.delta', {
      item_id: this.message.item.id,
      output_index: this.message.outputIndex,
      content_index: 0,
      delta,
      logprobs: [],
    });
  }

  private async closeMessage(): Promise<void> {
    const open = this.message;
    if (!open) return;
    this.message = undefined;
    const { item, outputIndex, text } = open;
    const part = outputText(text);
    await this.emit('response.output_text.done', { item_id: item.id, output_index: outputIndex, content_index: 0, text, logprobs: [] });
    await this.emit('response.content_part.done', { item_id: item.id, output_index: outputIndex, content_index: 0, part });
    const done = { ...item, status: 'completed', content: [part] };
    this.output[outputIndex] = done;
    this.remember(item.id, { type: 'message', role: 'assistant', content: [{ type: 'output_text', text }] });
    await this.emit('response.output_item.done', { output_index: outputIndex, item: done });
  }

  private async toolCall(chunk: Extract<GenerationChunk, { type: 'tool_call' }>): Promise<void> {
    await this.closeMessage();
    let call = this.calls.get(chunk.index);
    if (!call) {
      if (chunk.id === undefined) throw new ModelError('upstream_error', 'The provider continued a tool call it never started.', { retryable: false });
      const outputIndex = this.output.length;
      const item = {
        id: `fc_${randomUUID().replaceAll('-', '')}`,
        type: 'function_call',
        status: 'in_progress',
        arguments: '',
        call_id: chunk.id,
        name: chunk.name ?? '',
      };
      this.output.push(item);
      call = { outputIndex, item, text: '' };
      this.calls.set(chunk.index, call);
      await this.emit('response.output_item.added', { output_index: outputIndex, item });
    }
    if (chunk.arguments === '') return;
    call.text += chunk.arguments;
    await this.emit('response.function_call_arguments.delta', { item_id: call.item.id, output_index: call.outputIndex, delta: chunk.arguments });
  }

  private async closeCall(call: OpenItem): Promise<void> {
    const { item, outputIndex, text } = call;
    await this.emit('response.function_call_arguments.done', { item_id: item.id, output_index: outputIndex, arguments: text, name: item.name });
    const done = { ...item, status: 'completed', arguments: text };
    this.output[outputIndex] = done;
    this.remember(item.id, { type: 'function_call', call_id: String(item.call_id), name: String(item.name), arguments: text });
    await this.emit('response.output_item.done', { output_index: outputIndex, item: done });
  }

  private async emit(type: string, data: Json): Promise<void> {
    const sink = this.sink;
    if (!sink) return;
    if (!sink.write(type, JSON.stringify({ type, sequence_number: this.sequence++, ...data }))) await sink.drained();
  }

  /** The `response` object at a point of the run, echoing the request's settings as OpenAI does. */
  private object(status: string, usage: Usage | null, error: Json | null = null, incomplete?: string): Json {
    const b = this.body;
    return {
      id: this.id,
      object: 'response',
      created_at: this.createdAt,
      status,
      background: false,
      error,
      incomplete_details: incomplete ? { reason: incomplete } : null,
      instructions: b.instructions ?? null,
      max_output_tokens: b.max_output_tokens ?? null,
      model: this.request.model,
      output: [...this.output],
      parallel_tool_calls: b.parallel_tool_calls ?? true,
      previous_response_id: null,
      reasoning: { effort: null, summary: null },
      store: false,
      temperature: b.temperature ?? 1,
      text: { format: b.text?.format ?? { type: 'text' } },
      tool_choice: b.tool_choice ?? 'auto',
      tools: (b.tools ?? []).map((t) => ({
        type: 'function',
        name: t.name,
        description: t.description ?? null,
        parameters: t.parameters ?? null,
        strict: t.strict ?? null,
      })),
      top_p: b.top_p ?? 1,
      truncation: 'disabled',
      usage: usage
        ? {
            input_tokens: usage.inputTokens,
            input_tokens_details: { cached_tokens: 0 },
            output_tokens: usage.outputTokens,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: usage.inputTokens + usage.outputTokens,
          }
        : null,
      user: b.user ?? null,
      metadata: b.metadata ?? {},
    };
  }
}

function outputText(text: string): Json {
  return { type: 'output_text', annotations: [], logprobs: [], text };
}

function partsText(content: string | Part[]): string {
  return typeof content === 'string' ? content : content.map((p) => p.text).join('');
}

/** Instructions and input as our turns; consecutive function calls join the assistant turn before them. */
function toMessages(instructions: string | null | undefined, input: ResponsesRequest['input']): ChatMessage[] {
  const messages: ChatMessage[] = instructions ? [{ role: 'system', content: instructions }] : [];
  if (typeof input === 'string') {
    messages.push({ role: 'user', content: input });
    return messages;
  }
  for (const item of input) {
    if (item.type === 'item_reference') continue; // resolved before
    if (item.type === 'function_call') {
      const last = messages.at(-1);
      const call = { id: item.call_id, name: item.name, arguments: item.arguments };
      if (last?.role === 'assistant') (last.toolCalls ??= []).push(call);
      else messages.push({ role: 'assistant', content: '', toolCalls: [call] });
    } else if (item.type === 'function_call_output') {
      messages.push({ role: 'tool', content: partsText(item.output), toolCallId: item.call_id });
    } else {
      messages.push({ role: item.role === 'developer' ? 'system' : item.role, content: partsText(item.content) });
    }
  }
  if (messages.every((m) => m.role === 'system'))
    throw new TributaryError('invalid_field', 'input: at least one message or item is required.', { field: 'input' });
  return messages;
}
