import type { IncomingHttpHeaders } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { ModelError, type BatchSink, type GenerationChunk, type GenerationRequest, type ModelInfo, type OptionName, type Provider } from '../provider.js';
import { BodyReader } from './body-reader.js';
import { classifyHttpError, classifyNetworkError } from './classify.js';
import type { Dialect, DialectOptions, ListedModel, StreamDecoder } from './dialect.js';
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

interface Setup {
  body: string;
  /** `performance.now()` by which the whole generation must be done, retries included. */
  deadline: number;
}

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
  private readonly chatPath: string;
  private readonly chatHeaders: Record<string, string>;
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
    this.chatPath = this.basePath + dialect.chatPath;
    this.chatHeaders = { 'content-type': 'application/json', accept: 'text/event-stream', ...this.auth, ...config.headers };
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
    let setup: Setup | undefined;
    let current: AsyncGenerator<GenerationChunk[], void, undefined> | undefined;
    let attempt = 0;
    const progress = { yielded: false }; // a retry is still allowed after a bare start
    const retry = async (err: unknown): Promise<IteratorResult<GenerationChunk[], undefined>> => {
      current = undefined;
      await this.beforeRetry(err, attempt++, setup!, progress, request.signal);
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

  /**
   * `streamBatches` pushed: each upstream read's chunks reach `sink` from the body's own `data`
   * event, with no promise per read (a relay pays those once per token of every open stream).
   * Same retries, timeouts and abort; resolves once the finish chunk was delivered.
   */
  async relay(request: GenerationRequest, sink: BatchSink): Promise<void> {
    const setup = this.prepare(request);
    const progress = { yielded: false };
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attemptPushed(setup.body, request.signal, setup.deadline, progress, sink);
      } catch (err) {
        if (err instanceof ConsumerFailure) throw err.error; // the sink's own error: not the upstream's, never retried
        await this.beforeRetry(err, attempt, setup, progress, request.signal);
      }
    }
  }

  /** Waits before the next attempt, or throws the classified error when none is allowed. */
  private async beforeRetry(err: unknown, attempt: number, setup: Setup, progress: { yielded: boolean }, signal: AbortSignal): Promise<void> {
    const error = ModelError.from(err, signal);
    if (progress.yielded) throw error;
    const delay = retryDelayMs(attempt, error, this.config.retry);
    if (delay === undefined || performance.now() + delay >= setup.deadline) throw error;
    await sleep(delay, signal);
  }

  private prepare(request: GenerationRequest): Setup {
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

  /** The chat request both attempt paths send (its headers made once per provider). */
  private chatRequest(payload: string): Dispatcher.DispatchOptions {
    return { method: 'POST', path: this.chatPath, body: payload, headers: this.chatHeaders };
  }

  /** Sends the request; a non-2xx answer throws its classified error. */
  private async send(payload: string, guard: AttemptGuard): Promise<Dispatcher.ResponseData> {
    const res = await this.pool.request({ ...this.chatRequest(payload), signal: guard.signal });
    if (res.statusCode >= 300) {
      const text = await readLimited(res.body, ERROR_BODY_LIMIT);
      throw classifyHttpError(res.statusCode, res.headers, this.dialect.errorInfo(text));
    }
    return res;
  }

  /** One request to the upstream; `progress.yielded` is set once anything but the bare start went out. */
  private async *attempt(
    payload: string,
    cancel: AbortSignal,
    deadline: number,
    progress: { yielded: boolean },
  ): AsyncGenerator<GenerationChunk[], void, undefined> {
    const guard = new AttemptGuard(cancel, deadline, this.config.timeouts);
    let iterator: AsyncIterator<Buffer> | undefined;
    let complete = false;
    try {
      const res = await this.send(payload, guard);
      yield START_BATCH;
      const reader = new EventReader(this.dialect.decoder());
      iterator = new BodyReader(res.body);
      while (!reader.done) {
        const read = await iterator.next();
        const batch = reader.read(read.done ? null : read.value);
        guard.read(batch !== undefined);
        if (batch) {
          progress.yielded = true;
          yield batch;
        }
        if (reader.failed) throw reader.failure;
        if (read.done) break;
      }
      const finish = reader.finish();
      complete = true;
      if (reader.done) drain(iterator, res.body);
      progress.yielded = true;
      yield [finish];
    } catch (err) {
      throw guard.classify(err);
    } finally {
      guard.close(complete);
    }
  }

  /**
   * `attempt`, pushed into `sink` from undici's own body callbacks (see `relay`): no Readable
   * between the socket and the sink, and a pause is undici's own (its parser stops on the spot).
   * Against the Readable path it measured within the noise (docs/benchmarks.md, 2026-12-03).
   */
  private async attemptPushed(payload: string, cancel: AbortSignal, deadline: number, progress: { yielded: boolean }, sink: BatchSink): Promise<void> {
    const guard = new AttemptGuard(cancel, deadline, this.config.timeouts);
    return new Promise<void>((resolve, reject) => {
      const handler = new PushedAttempt(guard, new EventReader(this.dialect.decoder()), this.dialect, progress, sink, (err) => {
        if (err === undefined) {
          guard.close(true);
          return resolve();
        }
        const failure = err instanceof ConsumerFailure ? err : guard.classify(err); // before close: its abort is not the cause
        guard.close(false);
        reject(failure);
      });
      guard.onAbort = (reason) => handler.abort(reason);
      this.pool.dispatch(this.chatRequest(payload), handler);
    });
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

/** An error thrown by a relay's sink, kept apart from the upstream's errors. */
class ConsumerFailure extends Error {
  constructor(readonly error: unknown) {
    super('the relay sink failed');
  }
}

function give(sink: BatchSink, batch: GenerationChunk[]): boolean {
  try {
    return sink.batch(batch);
  } catch (err) {
    throw new ConsumerFailure(err);
  }
}

/** One attempt's abort and timers: the caller's cancel, the total deadline, first-token then idle timeouts. */
class AttemptGuard {
  /** Made when a request asks for a signal (a dispatched attempt takes `onAbort` instead). */
  private controller: AbortController | undefined;
  private reason: ModelError | undefined;
  private readonly total: NodeJS.Timeout;
  private firstToken: NodeJS.Timeout | undefined;
  private idle: NodeJS.Timeout | undefined;
  /** `performance.now()` of the last read once tokens flow. */
  private lastRead = 0;
  private readonly onCancel = () => this.abort(new ModelError('cancelled'));
  /** Told once, with the reason, when the attempt is aborted. */
  onAbort: ((reason: ModelError) => void) | undefined;

  constructor(
    private readonly cancel: AbortSignal,
    deadline: number,
    private readonly timeouts: UpstreamTimeouts,
  ) {
    if (cancel.aborted) throw new ModelError('cancelled');
    cancel.addEventListener('abort', this.onCancel, { once: true });
    this.total = setTimeout(
      () => this.abort(new ModelError('timeout', `No complete answer within ${timeouts.totalMs} ms.`)),
      Math.max(0, deadline - performance.now()),
    );
    this.firstToken = setTimeout(() => this.abort(new ModelError('timeout', `No first token within ${timeouts.firstTokenMs} ms.`)), timeouts.firstTokenMs);
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.reason) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  /** An upstream read arrived; `tokens`: it carried chunks (the first one ends the first-token wait). */
  read(tokens: boolean): void {
    // A time stamp, not a timer re-armed per read: the idle timer checks it when it fires.
    if (this.idle) this.lastRead = performance.now();
    else if (tokens && this.firstToken) {
      clearTimeout(this.firstToken);
      this.firstToken = undefined;
      this.lastRead = performance.now();
      this.idle = setTimeout(this.onIdle, this.timeouts.idleMs);
    }
  }

  private readonly onIdle = (): void => {
    const { idleMs } = this.timeouts;
    const left = this.lastRead + idleMs - performance.now();
    if (left >= 1) this.idle = setTimeout(this.onIdle, left);
    else this.abort(new ModelError('timeout', `The provider went silent for ${idleMs} ms mid-answer.`));
  };

  /** The attempt's failure as a ModelError: our own abort's reason, else the network error classified. */
  classify(err: unknown): unknown {
    return this.reason ?? classifyNetworkError(err);
  }

  /** Anything but a complete answer (an error, a consumer that stopped) closes the upstream request now. */
  close(complete: boolean): void {
    clearTimeout(this.total);
    clearTimeout(this.firstToken);
    clearTimeout(this.idle);
    this.cancel.removeEventListener('abort', this.onCancel);
    if (!complete) this.abort(new ModelError('cancelled'));
  }

  private abort(reason: ModelError): void {
    if (this.reason) return;
    this.reason = reason;
    this.controller?.abort(reason);
    this.onAbort?.(reason);
  }
}

/** An upstream body's reads turned into chunks: SSE events, decoded by the dialect. */
class EventReader {
  private readonly parser = new UpstreamSseParser();
  /** The end marker came. */
  done = false;
  /** An event failed (after the chunks before it, which `read` still returned). */
  failed = false;
  failure: unknown;

  constructor(private readonly decoder: StreamDecoder) {}

  /** The chunks of one read (`null`: the body ended), or undefined when it carried none. */
  read(bytes: Buffer | null): GenerationChunk[] | undefined {
    let batch: GenerationChunk[] | undefined;
    try {
      const events = bytes === null ? this.parser.end() : this.parser.push(bytes);
      for (const event of events) {
        const chunks = this.decoder.event(event);
        if (chunks === 'done') {
          this.done = true;
          break;
        }
        if (chunks.length === 0) continue;
        if (batch) batch.push(...chunks);
        else batch = chunks;
      }
    } catch (err) {
      // What the read carried before the bad event still reaches the client, then the error.
      this.failed = true;
      this.failure = err;
    }
    return batch;
  }

  finish(): Extract<GenerationChunk, { type: 'finish' }> {
    return this.decoder.finish();
  }
}

/**
 * A pushed attempt as an undici dispatch handler: each read goes through the event reader into
 * the sink as it arrives, a sink that is behind pauses the socket, and after the end marker the
 * rest of the body is read and dropped (so the socket is reused) for DRAIN_MS at most. A non-2xx
 * answer's body (capped) becomes its classified error. `done` is told once: nothing when the
 * finish chunk was delivered, else the failure.
 */
class PushedAttempt implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private abortReason: Error | undefined;
  private settled = false;
  private failure: { status: number; headers: IncomingHttpHeaders; parts: Buffer[]; size: number } | undefined;
  private drainTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly guard: AttemptGuard,
    private readonly reader: EventReader,
    private readonly dialect: Dialect,
    private readonly progress: { yielded: boolean },
    private readonly sink: BatchSink,
    private readonly done: (err?: unknown) => void,
  ) {}

  /** Closes the upstream request (before it started: as soon as it does). */
  abort(reason: Error): void {
    if (this.controller) this.controller.abort(reason);
    else this.abortReason = reason;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason) controller.abort(this.abortReason);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (status < 200) return; // informational: the real answer follows
    if (status >= 300) {
      this.failure = { status, headers, parts: [], size: 0 };
      return;
    }
    try {
      if (!give(this.sink, START_BATCH)) this.pauseUntilDrained();
    } catch (err) {
      this.settle(err);
    }
  }

  onResponseData(_controller: Dispatcher.DispatchController, bytes: Buffer): void {
    if (this.settled) return; // the rest after the end marker, drained unread
    const { failure } = this;
    if (!failure) return this.deliver(bytes);
    failure.parts.push(bytes);
    failure.size += bytes.length;
    if (failure.size > ERROR_BODY_LIMIT) this.settleFailure(failure);
  }

  onResponseEnd(): void {
    clearTimeout(this.drainTimer);
    if (this.settled) return;
    if (this.failure) this.settleFailure(this.failure);
    else this.deliver(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    clearTimeout(this.drainTimer);
    this.settle(err);
  }

  private deliver(bytes: Buffer | null): void {
    const { reader } = this;
    try {
      const batch = reader.read(bytes);
      this.guard.read(batch !== undefined);
      if (batch) {
        this.progress.yielded = true;
        if (!give(this.sink, batch) && !reader.done && !reader.failed) this.pauseUntilDrained();
      }
      if (reader.failed) return this.settle(reader.failure);
      if (!reader.done && bytes !== null) return;
      const finish = reader.finish();
      if (bytes !== null) this.drainTimer = setTimeout(() => this.controller?.abort(new Error('drained long enough')), DRAIN_MS);
      this.progress.yielded = true;
      give(this.sink, [finish]);
      this.settle();
    } catch (err) {
      this.settle(err);
    }
  }

  private pauseUntilDrained(): void {
    this.controller?.pause();
    this.sink.drained().then(
      () => this.controller?.resume(),
      (err: unknown) => this.settle(err),
    );
  }

  private settleFailure(f: NonNullable<PushedAttempt['failure']>): void {
    const text = Buffer.concat(f.parts).toString('utf8');
    this.settle(classifyHttpError(f.status, f.headers, this.dialect.errorInfo(text)));
  }

  private settle(err?: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.done(err);
  }
}
