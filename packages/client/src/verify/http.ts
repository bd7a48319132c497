import { SseParser } from '../sse-parser.js';

/** One SSE message with when it arrived (ms after the request was sent) and in which network read. */
export interface TimedFrame {
  t: number;
  read: number;
  event: string;
  id: string | undefined;
  data: string;
  json: any;
}

export interface SseRun {
  status: number;
  headers: Headers;
  frames: TimedFrame[];
  /** ms after the request: response headers, first body byte, end of body. */
  headersAt: number;
  firstByteAt: number | null;
  endAt: number;
  /** The connection broke (or timed out) before the body ended; undefined when it ended cleanly or was stopped. */
  error?: string;
  body?: any;
}

export interface SseRequest {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Return 'stop' to close the connection after this frame (a forced disconnect). */
  until?: (frame: TimedFrame, frames: TimedFrame[]) => 'stop' | undefined;
  timeoutMs?: number;
}

export class Http {
  readonly fetch: typeof fetch;
  constructor(
    readonly baseUrl: string,
    readonly token: string | undefined,
    fetchImpl?: typeof fetch,
    private readonly extraHeaders: Record<string, string> = {},
  ) {
    this.fetch = fetchImpl ?? ((...a) => fetch(...a));
  }

  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  headers(extra: Record<string, string> = {}, token = this.token): Record<string, string> {
    return { ...this.extraHeaders, ...(token ? { Authorization: `Bearer ${token}` } : {}), ...extra };
  }

  /** A JSON (or text) request; never throws on an HTTP status, only on a network failure or timeout. */
  async request(
    method: string,
    path: string,
    opts: { body?: unknown; token?: string | null; timeoutMs?: number } = {},
  ): Promise<{ status: number; headers: Headers; json: any; text: string; ms: number }> {
    const started = performance.now();
    const res = await this.fetch(this.url(path), {
      method,
      headers: this.headers(
        opts.body === undefined ? {} : { 'Content-Type': 'application/json' },
        opts.token === null ? undefined : (opts.token ?? this.token),
      ),
      ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
    });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, json, text, ms: performance.now() - started };
  }

  /** An SSE request, every frame timed; JSON data is parsed. */
  async sse(path: string, opts: SseRequest = {}): Promise<SseRun> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('timeout')), opts.timeoutMs ?? 30_000);
    const started = performance.now();
    const frames: TimedFrame[] = [];
    let stopped = false;
    try {
      const res = await this.fetch(this.url(path), {
        method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
        headers: this.headers({ Accept: 'text/event-stream', ...(opts.body === undefined ? {} : { 'Content-Type': 'application/json' }), ...opts.headers }),
        ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
        signal: controller.signal,
      });
      const run: SseRun = { status: res.status, headers: res.headers, frames, headersAt: performance.now() - started, firstByteAt: null, endAt: 0 };
      const type = res.headers.get('content-type') ?? '';
      if (!res.ok || !type.includes('text/event-stream') || !res.body) {
        const text = await res.text().catch(() => '');
        try {
          run.body = JSON.parse(text);
        } catch {
          run.body = text;
        }
        run.endAt = performance.now() - started;
        return run;
      }
      const parser = new SseParser();
      const decoder = new TextDecoder();
      const reader = res.body.getReader();
      let reads = 0;
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const t = performance.now() - started;
          run.firstByteAt ??= t;
          reads++;
          for (const m of parser.push(decoder.decode(value, { stream: true }))) {
            let json: any;
            try {
              json = JSON.parse(m.data);
            } catch {
              json = undefined;
            }
            const frame: TimedFrame = { t, read: reads, event: m.event, id: m.id, data: m.data, json };
            frames.push(frame);
            if (opts.until?.(frame, frames) === 'stop') {
              stopped = true;
              break;
            }
          }
          if (stopped) break;
        }
      } catch (err) {
        run.error = controller.signal.aborted ? 'timeout' : `connection broke: ${(err as Error).message}`;
      } finally {
        if (stopped) controller.abort();
        reader.releaseLock?.();
      }
      run.endAt = performance.now() - started;
      return run;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The sequence number at the end of an SSE id (`topic:epoch:seq`), or undefined. */
export function seqOf(id: string | undefined): number | undefined {
  if (!id) return undefined;
  const n = Number(id.slice(id.lastIndexOf(':') + 1));
  return Number.isInteger(n) ? n : undefined;
}
