import type { WebSocketConstructor, WebSocketLike } from '../realtime/types.js';
import { Http, type SseRun } from './http.js';
import { round } from './stats.js';
import type { Bound, CheckStatus, LoadSummary, Profile, Thresholds, Value, VerifyOptions } from './types.js';

export interface Verdict {
  status: CheckStatus;
  reason: string;
}
export const pass = (reason: string): Verdict => ({ status: 'pass', reason });
export const fail = (reason: string): Verdict => ({ status: 'fail', reason });
export const skip = (reason: string): Verdict => ({ status: 'skip', reason });

/** What a check records: its measured values and the bounds they were held to. */
export class Out {
  readonly measured: Record<string, Value> = {};
  readonly thresholds: Record<string, Bound> = {};

  set(name: string, value: Value): void {
    this.measured[name] = typeof value === 'number' ? round(value) : value;
  }

  /** Records a value and its bound; true when it is within. A missing value is not within. */
  within(name: string, value: number | null, bound: Bound): boolean {
    this.set(name, value);
    this.thresholds[name] = bound;
    if (value === null || !Number.isFinite(value)) return false;
    return (bound.max === undefined || value < bound.max) && (bound.min === undefined || value > bound.min);
  }
}

export interface Check {
  id: string;
  title: string;
  /** Part of which profiles. */
  profiles: Profile[];
  required: boolean;
  run(ctx: VerifyContext, out: Out): Promise<Verdict>;
}

/** Everything the checks share: the server, options, and what earlier checks found. */
export class VerifyContext {
  readonly http: Http;
  readonly profile: Profile;
  /** The models chosen by the catalogue check. */
  models: string[] = [];
  /** Every /compare-stream run of the streaming check (the buffering check reads them). */
  streamRuns: SseRun[] = [];
  loadSummary: LoadSummary | null = null;
  private wsCtor: WebSocketConstructor | undefined;

  constructor(
    readonly options: VerifyOptions,
    readonly thresholds: Thresholds,
  ) {
    this.http = new Http(options.baseUrl.replace(/\/+$/, ''), options.token, options.fetch, options.headers);
    this.profile = options.profile ?? 'smoke';
    this.wsCtor = options.WebSocket;
  }

  progress(line: string): void {
    this.options.onProgress?.(line);
  }

  get full(): boolean {
    return this.profile === 'full';
  }

  /** The credential that may publish, if any. */
  get publishKey(): string | undefined {
    return this.options.publishKey ?? this.options.token;
  }

  async publish(channel: string, data: unknown, type = 'verify'): Promise<{ status: number; json: any }> {
    const res = await this.http.request('POST', '/v1/publish', { body: { channel, type, data }, token: this.publishKey ?? null });
    return { status: res.status, json: res.json };
  }

  async WebSocket(): Promise<WebSocketConstructor> {
    if (this.wsCtor) return this.wsCtor;
    const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    // Node 20 has no global WebSocket: the `ws` package speaks the same API.
    this.wsCtor = global ?? ((await import('ws')).default as unknown as WebSocketConstructor);
    return this.wsCtor;
  }

  /** ws(s):// URL of a path, with the token as `access_token`. */
  wsUrl(path: string): string {
    const url = new URL(this.http.url(path));
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (this.options.token) url.searchParams.set('access_token', this.options.token);
    return url.toString();
  }

  async openWs(path: string, timeoutMs = 5_000): Promise<WsConn> {
    const Ctor = await this.WebSocket();
    return WsConn.open(new Ctor(this.wsUrl(path)), timeoutMs);
  }
}

/** A WebSocket whose JSON messages (one or several lines a frame) can be awaited. */
export class WsConn {
  readonly messages: { t: number; m: any }[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocketLike) {
    ws.onmessage = (ev) => {
      const t = performance.now();
      for (const line of String(ev.data).split('\n')) {
        try {
          this.messages.push({ t, m: JSON.parse(line) });
        } catch {
          this.messages.push({ t, m: { raw: line } });
        }
      }
      this.wake();
    };
    ws.onclose = (ev) => {
      this.closed = { code: ev.code, reason: ev.reason };
      this.wake();
    };
  }

  static open(ws: WebSocketLike, timeoutMs: number): Promise<WsConn> {
    const conn = new WsConn(ws);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.close();
        reject(new Error(`no WebSocket open within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(conn);
      };
      ws.onerror = () => undefined;
      const onclose = ws.onclose;
      ws.onclose = (ev) => {
        onclose?.(ev);
        clearTimeout(timer);
        reject(new Error(`WebSocket refused (close ${ev.code}${ev.reason ? ` ${ev.reason}` : ''})`));
      };
    }).finally(() => {
      // After the open, closes are recorded instead of rejecting.
      ws.onclose = (ev) => {
        conn.closed = { code: ev.code, reason: ev.reason };
        conn.wake();
      };
    }) as Promise<WsConn>;
  }

  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** The first message from index `from` on that matches, or undefined after the timeout or a close. */
  async next(pred: (m: any) => boolean, timeoutMs: number, from = 0): Promise<{ t: number; m: any; index: number } | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      for (let i = from; i < this.messages.length; i++) {
        const x = this.messages[i]!;
        if (pred(x.m)) return { ...x, index: i };
      }
      from = this.messages.length;
      const left = deadline - performance.now();
      if (left <= 0 || this.closed) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Closes and waits (up to 2 s) for the close to complete, so the server has counted it. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      this.ws.close(1000);
    } catch {
      /* already closing */
    }
    const deadline = performance.now() + 2_000;
    while (!this.closed && performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const randomId = () => Math.random().toString(36).slice(2, 10);

type CpuUsage = { user: number; system: number };
const proc = (globalThis as { process?: { cpuUsage?(prev?: CpuUsage): CpuUsage } }).process;

/** This process's CPU time in ms since `from` (0 where it cannot be measured, e.g. a browser). */
export function cpuMs(from?: CpuUsage): { ms: number; mark: CpuUsage | undefined } {
  const mark = proc?.cpuUsage?.();
  if (!mark) return { ms: 0, mark: undefined };
  return { ms: from ? (mark.user - from.user + mark.system - from.system) / 1_000 : 0, mark };
}
