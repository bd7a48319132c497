import type { ChannelEvent, Position, Recovery, TransportName, WebSocketConstructor } from './types.js';

/** What a transport reports to the client. */
export interface TransportEvents {
  /** The connection is usable; `silenceMs`: how long it may stay silent before the watchdog cuts it. */
  open(silenceMs: number): void;
  recovery(channel: string, answer: Recovery): void;
  event(event: ChannelEvent): void;
  /** The server refused one channel (e.g. `channel_forbidden`); the connection goes on. */
  channelError(channel: string, code: string, message: string): void;
  /** Anything arrived: feeds the watchdog. */
  alive(): void;
  /** The transport is gone; `opened` says whether it ever became usable. */
  closed(info: { opened: boolean; code?: number; reason: string }): void;
}

export interface TransportContext {
  baseUrl: string;
  token: string | undefined;
  /** The channels wanted now, with the position to resume after (null: live from now). */
  channels(): { channel: string; position: Position | null }[];
  events: TransportEvents;
  WebSocket: WebSocketConstructor | undefined;
  fetch: typeof fetch;
  pollTimeoutMs: number;
}

export interface Transport {
  readonly name: TransportName;
  /** The wanted channels changed. */
  sync(): void;
  close(): void;
}

/** A channel's recovery answer as every transport receives it (`subscribed` frame, SSE `recovery` event, poll answer). */
export function recoveryOf(wire: { recovered: boolean; top: Position; replayed: number; reason: string }): Recovery {
  return wire.recovered ? { recovered: true, top: wire.top, replayed: wire.replayed } : { recovered: false, reason: wire.reason, top: wire.top };
}

/**
 * The life of an HTTP transport (SSE, long-poll): one abortable request at a time, a loop
 * whose error ends it, and one `closed` report however it ends.
 */
export class HttpTransportRun {
  opened = false;
  done = false;
  private controller = new AbortController();

  constructor(private readonly ctx: TransportContext) {}

  /** The signal of the current request. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Cuts the current request short; `renew()` gives the next one its own signal. */
  abortRequest(): void {
    this.controller.abort();
  }

  renew(): void {
    this.controller = new AbortController();
  }

  open(silenceMs: number): void {
    this.opened = true;
    this.ctx.events.open(silenceMs);
  }

  finish(info: { code?: number; reason: string }): void {
    if (this.done) return;
    this.done = true;
    this.controller.abort();
    this.ctx.events.closed({ opened: this.opened, ...info });
  }

  /** Runs the transport's loop; an error ends the transport with its message. */
  run(loop: () => Promise<void>): void {
    void loop().catch((err: unknown) => this.finish({ reason: (err as Error)?.message ?? String(err) }));
  }

  /** A non-200 answer: a refused channel is reported on its own (the client reconnects without it); anything else ends the transport. */
  async refused(res: Response): Promise<void> {
    const body = await res.text().catch(() => '');
    if (reportRefusedChannel(this.ctx, body)) return this.finish({ reason: 'channels changed' });
    this.finish({ code: res.status, reason: body.slice(0, 200) || `HTTP ${res.status}` });
  }
}

/** The cursor of the SSE id and long-poll (server: realtime/positions.ts). */
export function formatCursor(positions: (Position | null)[]): string {
  return positions.map((p) => (p && p.epoch ? `${p.epoch}:${p.seq}` : '*')).join(',');
}

export function channelQuery(ctx: TransportContext, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams({
    channels: ctx
      .channels()
      .map((c) => c.channel)
      .join(','),
    ...extra,
  });
  if (ctx.token) params.set('token', ctx.token);
  return params.toString();
}

const CHANNEL_REFUSALS = new Set(['channel_forbidden', 'invalid_channel']);

/**
 * SSE and long-poll name all channels in one request, so one refused channel refuses the request.
 * If the body names a wanted channel, report it like WebSocket does (the client drops it and
 * reconnects with the rest) and return true.
 */
export function reportRefusedChannel(ctx: TransportContext, body: string): boolean {
  let error: { code?: unknown; message?: unknown; channel?: unknown };
  try {
    error = JSON.parse(body);
  } catch {
    return false;
  }
  const channel = error?.channel;
  if (typeof channel !== 'string' || !CHANNEL_REFUSALS.has(String(error.code))) return false;
  if (!ctx.channels().some((c) => c.channel === channel)) return false;
  ctx.events.channelError(channel, String(error.code), String(error.message ?? error.code));
  return true;
}
