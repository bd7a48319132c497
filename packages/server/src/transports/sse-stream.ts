import type { ServerResponse } from 'node:http';
import type { EndReason, RecoveryInfo, Sink } from '../streams/hub.js';
import type { LogEvent } from '../streams/types.js';
import { BodyWriter } from './body-writer.js';
import { encodeSseComment, encodeSseRetry, SSE_HEADERS, withSseRetry } from './sse-frame.js';

export interface SseOptions {
  retryMs: number;
  heartbeatMs: number;
  headers?: Record<string, string>;
  /** Put `retry:` on the first frame written instead of a frame of its own. */
  inlineRetry?: boolean;
}

/** An open SSE response: headers sent, `retry:` hint, heartbeat comments until it ends. */
export class SseResponse {
  private readonly body: BodyWriter;
  private readonly heartbeat: NodeJS.Timeout;
  private ended = false;
  private pendingRetry: number | undefined;

  constructor(
    readonly res: ServerResponse,
    opts: SseOptions,
  ) {
    this.body = new BodyWriter(res, 200, { ...SSE_HEADERS, ...opts.headers }, true); // bursts coalesced per tick
    if (opts.inlineRetry) this.pendingRetry = opts.retryMs;
    else this.body.write(encodeSseRetry(opts.retryMs));
    this.heartbeat = setInterval(() => this.write(encodeSseComment('heartbeat')), opts.heartbeatMs);
    this.heartbeat.unref();
    res.on('close', () => this.stop());
  }

  get closed(): boolean {
    return this.ended || this.body.closed;
  }

  write(chunk: string): void {
    if (this.closed || chunk === '') return;
    if (this.pendingRetry !== undefined) {
      chunk = withSseRetry(chunk, this.pendingRetry);
      this.pendingRetry = undefined;
    }
    this.body.write(chunk);
  }

  /** Bytes written but not yet taken by the socket. */
  backlog(): number {
    return this.body.backlog;
  }

  cork(): () => void {
    return this.body.cork();
  }

  /** Resolves when the socket took everything written, or the response closed. */
  drained(): Promise<void> {
    return this.body.drained();
  }

  end(): void {
    if (this.ended) return;
    this.stop();
    this.body.end();
  }

  /** Cuts the connection (a slow consumer): the client will reconnect and resume. */
  destroy(): void {
    this.stop();
    this.res.destroy();
  }

  private stop(): void {
    this.ended = true;
    clearInterval(this.heartbeat);
  }
}

/** Bridges a hub subscription to an SSE response. */
export class SseSink implements Sink {
  constructor(
    private readonly sse: SseResponse,
    private readonly encode: (event: LogEvent) => string,
    private readonly onOpen: (info: RecoveryInfo) => string = () => '',
    private readonly onEnd: (reason: EndReason) => void = () => undefined,
  ) {}

  open(info: RecoveryInfo): void {
    this.sse.write(this.onOpen(info));
  }

  send(event: LogEvent): void {
    this.sse.write(this.encode(event));
  }

  backlog(): number {
    return this.sse.backlog();
  }

  drained(): Promise<void> {
    return this.sse.drained();
  }

  cork(): () => void {
    return this.sse.cork();
  }

  end(reason: EndReason): void {
    if (reason === 'slow_consumer') this.sse.destroy();
    else this.sse.end();
    this.onEnd(reason);
  }
}
