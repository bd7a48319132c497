import { SseParser, type SseMessage } from './sse-parser.js';

export type Tier = 'brief' | 'standard' | 'extended';

export interface StartComparison {
  prompt: string;
  models: string[];
  tier?: Tier;
  conversationId?: string;
}

/** A native comparison event: `type` is the SSE event name, `data` its JSON payload. */
export interface ComparisonEvent {
  id: string | undefined;
  type: string;
  data: any;
}

export interface ModelInfo {
  id: string;
  name: string;
  provider: string;
  demo: boolean;
  context_length: number;
  description?: string;
}

export interface TierLimits {
  maxInputChars: number;
  maxOutputTokens: number;
}

/** `GET /v1/client-config`: what shapes a request, and the flags a client honours. */
export interface ClientConfig {
  maxModels: number;
  tiers: Record<Tier, TierLimits>;
  flags: { sse_streaming: boolean };
}

export interface ModelResult {
  model: string;
  status: 'ok' | 'truncated' | 'failed' | 'cancelled';
  text: string;
  errorCode?: string;
  errorMessage?: string;
  finishReason?: string;
  inputTokens?: number;
  outputTokens?: number;
  ttftMs?: number;
  durationMs?: number;
  tokensPerSecond?: number;
}

/** A stored comparison (`GET /v1/comparisons`). */
export interface ComparisonRecord {
  id: string;
  conversationId: string;
  kind: 'compare' | 'chat';
  tier: Tier;
  prompt: string;
  models: string[];
  createdAt: string;
  status: 'running' | 'completed' | 'cancelled' | 'interrupted';
  finishedAt?: string;
  processingTimeMs?: number;
  results: ModelResult[];
}

/** A comparison's state: live while running, stored after (`GET /v1/comparisons/{id}`). */
export interface ComparisonSnapshot {
  id: string;
  conversationId: string;
  kind: 'compare' | 'chat';
  tier: Tier;
  status: ComparisonRecord['status'];
  models: { model: string; status: 'running' | ModelResult['status']; text: string; result?: ModelResult }[];
}

export interface ConversationMessage {
  role: 'user' | 'assistant';
  content: string;
  modelId: string | null;
  comparisonId: string;
}

/** The non-streaming seed answer of `POST /compare`. */
export interface WholeComparison {
  results: Record<string, string>;
  errors: Record<string, { code: string; message: string }>;
  metadata: { input_length: number; models_requested: number; models_successful: number; models_failed: number; timestamp: string; processing_time_ms: number };
  comparison_id: string;
  conversation_id: string;
}

export interface ClientOptions {
  /** Server base URL, e.g. http://localhost:8080 ('' in a browser on the same origin). */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** Attempts to resume a dropped stream before giving up. */
  maxResumes?: number;
  /** Wait before a resume attempt (grows linearly). */
  resumeDelayMs?: number;
}

export class TributaryApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'TributaryApiError';
  }
}

/** Typed client for the native comparison API, with streams that resume after a drop. */
export class TributaryClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly maxResumes: number;
  private readonly resumeDelayMs: number;

  constructor(opts: ClientOptions = {}) {
    this.baseUrl = (opts.baseUrl ?? '').replace(/\/$/, '');
    this.fetchImpl = opts.fetch ?? ((...args) => fetch(...args));
    this.maxResumes = opts.maxResumes ?? 10;
    this.resumeDelayMs = opts.resumeDelayMs ?? 250;
  }

  async models(): Promise<{ models: ModelInfo[]; models_by_provider: Record<string, ModelInfo[]> }> {
    return this.json('GET', '/models');
  }

  async clientConfig(): Promise<ClientConfig> {
    return this.json('GET', '/v1/client-config');
  }

  /** Recent comparisons, newest first (optionally of one conversation). */
  async list(opts: { limit?: number; conversationId?: string } = {}): Promise<ComparisonRecord[]> {
    const query = new URLSearchParams();
    if (opts.limit !== undefined) query.set('limit', String(opts.limit));
    if (opts.conversationId !== undefined) query.set('conversationId', opts.conversationId);
    const q = query.toString();
    return (await this.json<{ comparisons: ComparisonRecord[] }>('GET', `/v1/comparisons${q ? `?${q}` : ''}`)).comparisons;
  }

  async conversation(id: string): Promise<{ id: string; messages: ConversationMessage[] }> {
    return this.json('GET', `/v1/conversations/${encodeURIComponent(id)}`);
  }

  /** Deletes a stored comparison (cancelling it first if it still runs). */
  async purge(id: string): Promise<{ id: string; status: 'deleted' }> {
    return this.json('DELETE', `/v1/comparisons/${encodeURIComponent(id)}?purge=true`);
  }

  /** The non-streaming compare (`POST /compare`): one answer when every model has ended. */
  async compareWhole(request: StartComparison): Promise<WholeComparison> {
    return this.json('POST', '/compare', {
      input_data: request.prompt,
      models: request.models,
      ...(request.tier ? { tier: request.tier } : {}),
      ...(request.conversationId ? { conversation_id: request.conversationId } : {}),
    });
  }

  async start(request: StartComparison): Promise<{ id: string; conversationId: string }> {
    return this.json('POST', '/v1/comparisons', request);
  }

  async cancel(id: string): Promise<{ id: string; status: string }> {
    return this.json('DELETE', `/v1/comparisons/${encodeURIComponent(id)}`);
  }

  async get(id: string): Promise<ComparisonSnapshot> {
    return this.json('GET', `/v1/comparisons/${encodeURIComponent(id)}`);
  }

  /**
   * Every event of a comparison from `lastEventId` (or its start) to its end. A dropped
   * connection is resumed from the last id seen, so no event is missed or repeated.
   */
  async *stream(id: string, opts: { lastEventId?: string; signal?: AbortSignal } = {}): AsyncGenerator<ComparisonEvent> {
    let lastEventId = opts.lastEventId;
    let failures = 0;
    for (;;) {
      const headers: Record<string, string> = { Accept: 'text/event-stream' };
      if (lastEventId) headers['Last-Event-ID'] = lastEventId;
      let ended = false;
      try {
        const res = await this.fetchImpl(`${this.baseUrl}/v1/comparisons/${encodeURIComponent(id)}/stream`, {
          headers,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        if (res.status === 204) return;
        if (!res.ok || !res.body) throw await this.error(res);
        for await (const message of readSse(res.body)) {
          failures = 0;
          if (message.id !== undefined) lastEventId = message.id;
          const event = toEvent(message);
          yield event;
          // A finished comparison that history cannot replay ends with its stored state.
          if (event.type === 'comparison.done' || isFinalRecovery(event)) ended = true;
        }
        if (ended) return;
      } catch (err) {
        if (err instanceof TributaryApiError || opts.signal?.aborted) throw err;
      }
      if (ended) return;
      if (++failures > this.maxResumes) throw new Error(`comparison stream ${id} dropped ${failures} times`);
      await new Promise((r) => setTimeout(r, this.resumeDelayMs * failures));
    }
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.fetchImpl(`${this.baseUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw await this.error(res);
    return (await res.json()) as T;
  }

  private async error(res: Response): Promise<TributaryApiError> {
    const body: any = await res.json().catch(() => undefined);
    return new TributaryApiError(res.status, body?.code ?? 'http_error', body?.message ?? `HTTP ${res.status}`, body);
  }
}

function isFinalRecovery(event: ComparisonEvent): boolean {
  const status = event.data?.snapshot?.status;
  return event.type === 'recovery' && event.data.recovered === false && status !== undefined && status !== 'running';
}

function toEvent(message: SseMessage): ComparisonEvent {
  return { id: message.id, type: message.event, data: JSON.parse(message.data) };
}

/** SSE messages from a fetch body, in order. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const message of parser.push(decoder.decode(value, { stream: true }))) yield message;
    }
  } finally {
    reader.releaseLock();
  }
}
