import { Pool } from 'undici';
import { ModelError, type GenerationChunk, type GenerationRequest, type ModelInfo, type OptionName, type Provider } from '../provider.js';
import { BodyReader } from './body-reader.js';
import { classifyHttpError, classifyNetworkError } from './classify.js';
import type { Dialect, DialectOptions, ListedModel } from './dialect.js';
import { retryDelayMs, sleep, type RetryPolicy } from './retry.js';
import { UpstreamSseParser } from './sse-parser.js';

export interface UpstreamTimeouts {
  /** From sending the request to the first token (per attempt). */
  firstTokenMs: number;
  /** Longest silence between two reads once tokens flow. */
  idleMs: number;
  /** The whole generation, retries included. */
  totalMs: number;
}

export interface HttpProviderConfig extends DialectOptions {
  /** Provider id: the prefix of its catalogue ids (`<id>/<upstream model>`). */
  id: string;
  label: string;
  baseUrl: string;
  apiKey?: string | undefined;
  headers: Record<string, string>;
  /** Models named in the config: always in the catalogue, listing or not. */
  models: ListedModel[];
  /** Ask the upstream's models endpoint too. */
  listModels: boolean;
  /** How long a listing is reused before it is fetched again. */
  listingTtlMs: number;
  timeouts: UpstreamTimeouts;
  retry: RetryPolicy;
  /** Keep-alive connections to this upstream. */
  connections: number;
  keepAliveMs: number;
}

const START_BATCH: GenerationChunk[] = Object.freeze([Object.freeze({ type: 'start' })]) as GenerationChunk[];
/** Error bodies are read for their message only; cap what we buffer. */
const ERROR_BODY_LIMIT = 64 * 1024;
/** After the end marker, the rest of the body is drained (keeps the socket reusable) this long at most. */
const DRAIN_MS = 1_000;

/**
 * One upstream spoken in a dialect: a keep-alive pool, first-token / idle / total timeouts,
 * retries only before the first token and only for retryable errors, and an abort that
 * closes the upstream socket at once.
 */
export class HttpProvider implements Provider {
  readonly id: string;
  private readonly pool: Pool;
  private readonly basePath: string;
  private readonly auth: Record<string, string>;
  private listing: { at: number; models: ListedModel[] } | undefined;

  constructor(
    private readonly config: HttpProviderConfig,
    private readonly dialect: Dialect,
    private readonly warn: (message: string) => void = () => undefined,
  ) {
    this.id = config.id;
    const url = new URL(config.baseUrl);
    this.basePath = url.pathname.replace(/\/+$/, '');
    // Our own timers classify timeouts; undici's would only race them.
    this.pool = new Pool(url.origin, { connections: config.connections, keepAliveTimeout: config.keepAliveMs, headersTimeout: 0, bodyTimeout: 0 });
    this.auth = dialect.authHeaders(config.apiKey);
  }

  /** Configured models plus the upstream listing (cached); a failing listing keeps the last good one. */
  async listModels(): Promise<ModelInfo[]> {
    const { config } = this;
    if (config.listModels && (!this.listing || Date.now() - this.listing.at > config.listingTtlMs)) {
      try {
        this.listing = { at: Date.now(), models: await this.fetchListing() };
      } catch (err) {
        this.warn(
          `provider ${this.id}: model listing failed (${(err as Error).message}); using ${this.listing ? 'the last listing' : 'configured models only'}`,
        );
      }
    }
    const merged = new Map<string, ListedModel>();
    for (const m of this.listing?.models ?? []) merged.set(m.id, m);
    for (const m of config.models) merged.set(m.id, { ...merged.get(m.id), ...definedOnly(m) } as ListedModel);
    return [...merged.values()].map((m) => ({
      id: `${this.id}/${m.id}`,
      name: m.name,
      provider: this.id,
      demo: false,
      contextLength: m.contextLength ?? null,
      ...(m.pricing ? { pricing: m.pricing } : {}),
      description: `${config.label} model ${m.id}`,
    }));
  }

  async *stream(request: GenerationRequest): AsyncGenerator<GenerationChunk, void, undefined> {
    for await (const batch of this.streamBatches(request)) yield* batch;
  }

  /**
   * `stream`, one array per upstream read: a relay writes each read's chunks at once, with one
   * await per read instead of per chunk. Not an async generator: each generator layer costs a
   * relay several promise hops per read; this one only adds a `then` for the retry.
   */
  streamBatches(request: GenerationRequest): AsyncIterableIterator<GenerationChunk[]> {
    let setup: { body: string; deadline: number } | undefined;
    let current: AsyncGenerator<GenerationChunk[], void, undefined> | undefined;
    let attempt = 0;
    const progress = { yielded: false }; // a retry is still allowed after a bare start
    const retry = async (err: unknown): Promise<IteratorResult<GenerationChunk[], undefined>> => {
      current = undefined;
      const error = ModelError.from(err, request.signal);
      if (progress.yielded) throw error;
      const delay = retryDelayMs(attempt++, error, this.config.retry);
      if (delay === undefined || performance.now() + delay >= setup!.deadline) throw error;
      await sleep(delay, request.signal);
      return next();
    };
    const next = (): Promise<IteratorResult<GenerationChunk[], undefined>> => {
      try {
        setup ??= this.prepare(request);
        current ??= this.attempt(setup.body, request.signal, setup.deadline, progress);
      } catch (err) {
        return Promise.reject(err);
      }
      return current.next().then(undefined, retry);
    };
    const iterator: AsyncIterableIterator<GenerationChunk[]> = {
      next,
      // A consumer that stops closes the attempt, whose `finally` closes the upstream request.
      return: async () => {
        await current?.return();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  private prepare(request: GenerationRequest): { body: string; deadline: number } {
    const prefix = `${this.id}/`;
    if (!request.model.startsWith(prefix)) throw new ModelError('invalid_model', `Model ${request.model} is not served by ${this.id}.`);
    const body = this.dialect.chatBody(request.model.slice(prefix.length), request, this.config);
    return { body, deadline: performance.now() + this.config.timeouts.totalMs };
  }

  supports(): ReadonlySet<OptionName> {
    return this.dialect.supports;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }

  /** One request to the upstream; `progress.yielded` is set once anything but the bare start went out. */
  private async *attempt(
    payload: string,
    cancel: AbortSignal,
    deadline: number,
    progress: { yielded: boolean },
  ): AsyncGenerator<GenerationChunk[], void, undefined> {
    const { timeouts } = this.config;
    if (cancel.aborted) throw new ModelError('cancelled');
    const controller = new AbortController();
    const abort = (reason: ModelError) => {
      if (!controller.signal.aborted) controller.abort(reason);
    };
    const onCancel = () => abort(new ModelError('cancelled'));
    cancel.addEventListener('abort', onCancel, { once: true });
    const total = setTimeout(
      () => abort(new ModelError('timeout', `No complete answer within ${timeouts.totalMs} ms.`)),
      Math.max(0, deadline - performance.now()),
    );
    let firstToken: NodeJS.Timeout | undefined = setTimeout(
      () => abort(new ModelError('timeout', `No first token within ${timeouts.firstTokenMs} ms.`)),
      timeouts.firstTokenMs,
    );
    let idle: NodeJS.Timeout | undefined;
    let iterator: AsyncIterator<Buffer> | undefined;
    let complete = false;
    try {
      const res = await this.pool.request({
        method: 'POST',
        path: this.basePath + this.dialect.chatPath,
        body: payload,
        signal: controller.signal,
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...this.auth, ...this.config.headers },
      });
      if (res.statusCode >= 300) {
        const text = await readLimited(res.body, ERROR_BODY_LIMIT);
        throw classifyHttpError(res.statusCode, res.headers, this.dialect.errorInfo(text));
      }
      yield START_BATCH;
      const parser = new UpstreamSseParser();
      const decoder = this.dialect.decoder();
      iterator = new BodyReader(res.body);
      let done = false;
      while (!done) {
        const read = await iterator.next();
        const events = read.done ? parser.end() : parser.push(read.value);
        idle?.refresh();
        let batch: GenerationChunk[] | undefined;
        let failed = false;
        let failure: unknown;
        try {
          for (const event of events) {
            const chunks = decoder.event(event);
            if (chunks === 'done') {
              done = true;
              break;
            }
            if (chunks.length === 0) continue;
            if (batch) batch.push(...chunks);
            else batch = chunks;
          }
        } catch (err) {
          // What the read carried before the bad event still reaches the client, then the error.
          failed = true;
          failure = err;
        }
        if (batch) {
          if (firstToken) {
            clearTimeout(firstToken);
            firstToken = undefined;
            idle = setTimeout(() => abort(new ModelError('timeout', `The provider went silent for ${timeouts.idleMs} ms mid-answer.`)), timeouts.idleMs);
          }
          progress.yielded = true;
          yield batch;
        }
        if (failed) throw failure;
        if (read.done) break;
      }
      const finish = decoder.finish();
      complete = true;
      if (done) drain(iterator, res.body);
      progress.yielded = true;
      yield [finish];
    } catch (err) {
      if (controller.signal.aborted) throw controller.signal.reason;
      throw classifyNetworkError(err);
    } finally {
      clearTimeout(total);
      clearTimeout(firstToken);
      clearTimeout(idle);
      cancel.removeEventListener('abort', onCancel);
      // Anything but a complete answer (an error, a consumer that stopped) closes the upstream request now.
      if (!complete) abort(new ModelError('cancelled'));
    }
  }

  private async fetchListing(): Promise<ListedModel[]> {
    const res = await this.pool.request({
      method: 'GET',
      path: this.basePath + this.dialect.modelsPath,
      headers: { accept: 'application/json', ...this.auth, ...this.config.headers },
      signal: AbortSignal.timeout(this.config.timeouts.firstTokenMs),
    });
    const text = await readLimited(res.body, 32 * 1024 * 1024);
    if (res.statusCode >= 300) throw classifyHttpError(res.statusCode, res.headers, this.dialect.errorInfo(text));
    return this.dialect.parseModels(JSON.parse(text));
  }
}

/** Reads the rest of a body after the end marker, so the keep-alive socket can be reused. */
function drain(iterator: AsyncIterator<Buffer>, body: { destroy(): unknown }): void {
  const timer = setTimeout(() => body.destroy(), DRAIN_MS);
  void (async () => {
    try {
      while (!(await iterator.next()).done);
    } catch {
      // the answer is already complete; a late error does not matter
    } finally {
      clearTimeout(timer);
    }
  })();
}

async function readLimited(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of body) {
    parts.push(part);
    size += part.length;
    if (size > limit) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(parts).toString('utf8');
}

function definedOnly<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}
