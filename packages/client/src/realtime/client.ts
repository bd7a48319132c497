import { Backoff, type BackoffOptions } from './backoff.js';
import { pollTransport } from './poll-transport.js';
import { sseTransport } from './sse-transport.js';
import type { Transport, TransportContext } from './transport.js';
import type { ChannelEvent, ConnectionState, Position, Recovery, TransportName, WebSocketConstructor } from './types.js';
import { webSocketTransport } from './ws-transport.js';

export interface RealtimeOptions {
  /** Server base URL, e.g. http://localhost:8080 ('' in a browser on the same origin). */
  url?: string;
  /** Connection token (JWT signed by your backend), or a function asked before every connect. */
  token?: string | (() => string | Promise<string>);
  /** Fallback order; WebSocket is skipped where no implementation exists. */
  transports?: TransportName[];
  /** WebSocket implementation (Node 20: `ws`'s WebSocket); defaults to the global one. */
  WebSocket?: WebSocketConstructor;
  fetch?: typeof fetch;
  backoff?: BackoffOptions;
  /** Reconnect when nothing arrived for this long (WebSocket: the server's ping interval plus a grace). */
  watchdogMs?: number;
  /** How long one long-poll may wait on the server. */
  pollTimeoutMs?: number;
  /** Reconnect at once when a hidden browser tab becomes visible again. */
  visibilityReconnect?: boolean;
}

export interface SubscribeOptions<T> {
  /** Resume after this position (e.g. one stored with the state it produced); default: live from now. */
  position?: Position;
  onEvent(event: ChannelEvent<T>): void;
  /** Every (re)subscription's answer; `recovered: false` means events were lost: reload state. */
  onRecovery?(answer: Recovery): void;
  /** The server refused the channel (`channel_forbidden`, `invalid_channel`, …). */
  onError?(error: { code: string; message: string }): void;
}

export interface RealtimeSubscription {
  readonly channel: string;
  /** The last position delivered (or the top the server answered). */
  readonly position: Position | null;
  unsubscribe(): void;
}

interface SubState {
  channel: string;
  position: Position | null;
  opts: SubscribeOptions<any>;
}

type Listener = (state: ConnectionState, transport: TransportName | undefined) => void;

const DEFAULT_ORDER: TransportName[] = ['websocket', 'sse', 'poll'];
const FACTORIES = { websocket: webSocketTransport, sse: sseTransport, poll: pollTransport } as const;

/**
 * The realtime client: subscribes channels over WebSocket, SSE or long-poll, resumes each
 * channel from its own position after any drop, never hands an event twice, and says
 * `recovered: false` when the server could not fill a gap.
 */
/** Close code of a WebSocket refused because the client is outside the `realtime_ws` rollout. */
export const CLOSE_ROLLOUT_EXCLUDED = 4010;

export class RealtimeClient {
  private readonly subs = new Map<string, SubState>();
  private chain: TransportName[];
  private readonly backoff: Backoff;
  private readonly listeners = new Set<Listener>();
  private readonly fetchImpl: typeof fetch;
  private transport: Transport | undefined;
  private chainIndex = 0;
  private stateValue: ConnectionState = 'idle';
  private timer: ReturnType<typeof setTimeout> | undefined;
  private watchdog: ReturnType<typeof setInterval> | undefined;
  private watchdogMs: number;
  private lastAlive = 0;
  private generation = 0;
  private readonly detachVisibility: () => void;

  constructor(private readonly opts: RealtimeOptions = {}) {
    const WS = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    this.chain = (opts.transports ?? DEFAULT_ORDER).filter((t) => t !== 'websocket' || WS !== undefined);
    if (this.chain.length === 0) throw new Error('No usable transport (no WebSocket implementation and no SSE/long-poll allowed).');
    this.opts = { ...opts, WebSocket: WS };
    this.fetchImpl = opts.fetch ?? ((...args) => fetch(...args));
    this.backoff = new Backoff(opts.backoff);
    this.watchdogMs = opts.watchdogMs ?? 45_000;
    this.detachVisibility = this.watchVisibility();
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** The transport in use, if connected. */
  get transportName(): TransportName | undefined {
    return this.stateValue === 'connected' ? this.transport?.name : undefined;
  }

  onState(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  subscribe<T = unknown>(channel: string, opts: SubscribeOptions<T>): RealtimeSubscription {
    if (this.subs.has(channel)) throw new Error(`Already subscribed to ${channel}`);
    const state: SubState = { channel, position: opts.position ?? null, opts };
    this.subs.set(channel, state);
    if (this.stateValue === 'idle') this.connect();
    else this.transport?.sync();
    const client = this;
    return {
      channel,
      get position() {
        return state.position;
      },
      unsubscribe() {
        if (client.subs.get(channel) !== state) return;
        client.subs.delete(channel);
        client.transport?.sync();
      },
    };
  }

  connect(): void {
    if (this.stateValue === 'closed') throw new Error('This client was closed.');
    if (this.transport || this.timer) return;
    void this.open();
  }

  /** Closes for good. */
  close(): void {
    this.generation++;
    this.setState('closed');
    clearTimeout(this.timer);
    clearInterval(this.watchdog);
    this.timer = undefined;
    this.transport?.close();
    this.transport = undefined;
    this.detachVisibility();
  }

  /** Drops the connection and reconnects now (tab became visible, network changed). */
  reconnect(): void {
    if (this.stateValue === 'closed') return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.backoff.reset();
    const t = this.transport;
    this.transport = undefined;
    this.generation++;
    t?.close();
    void this.open();
  }

  private async open(): Promise<void> {
    const generation = ++this.generation;
    this.setState(this.stateValue === 'idle' ? 'connecting' : 'reconnecting');
    const token = typeof this.opts.token === 'function' ? await this.opts.token() : this.opts.token;
    if (generation !== this.generation) return;
    const name = this.chain[this.chainIndex % this.chain.length]!;
    const ctx: TransportContext = {
      baseUrl: (this.opts.url ?? '').replace(/\/$/, ''),
      token,
      channels: () => [...this.subs.values()].map((s) => ({ channel: s.channel, position: s.position })),
      WebSocket: this.opts.WebSocket,
      fetch: this.fetchImpl,
      pollTimeoutMs: this.opts.pollTimeoutMs ?? 25_000,
      events: {
        open: (silenceMs) => {
          if (generation !== this.generation) return;
          this.watchdogMs = this.opts.watchdogMs ?? silenceMs;
          this.backoff.reset();
          this.setState('connected');
          this.alive();
          this.armWatchdog();
        },
        alive: () => {
          if (generation === this.generation) this.alive();
        },
        recovery: (channel, answer) => {
          if (generation === this.generation) this.recovery(channel, answer);
        },
        event: (event) => {
          if (generation === this.generation) this.deliver(event);
        },
        channelError: (channel, code, message) => {
          if (generation !== this.generation) return;
          const sub = this.subs.get(channel);
          if (!sub) return;
          this.subs.delete(channel);
          sub.opts.onError?.({ code, message });
        },
        closed: (info) => {
          if (generation === this.generation) this.lost(info);
        },
      },
    };
    if (name === 'sse' || name === 'poll') {
      if (this.subs.size === 0) {
        this.transport = undefined;
        this.setState('idle');
        return;
      }
    }
    this.transport = FACTORIES[name](ctx);
  }

  private lost(info: { opened: boolean; code?: number; reason: string }): void {
    this.transport = undefined;
    clearInterval(this.watchdog);
    if (this.stateValue === 'closed') return;
    const changedChannels = info.reason === 'channels changed';
    // Outside the server's WebSocket rollout: the answer holds for this client's life, so stop asking.
    const excluded = info.code === CLOSE_ROLLOUT_EXCLUDED && this.chain.length > 1;
    if (excluded) {
      this.chain = this.chain.filter((t) => t !== 'websocket');
      this.chainIndex = 0;
    }
    // A transport that never opened (blocked, disabled by flag, refused) hands over to the next one;
    // one that stopped because a channel was refused retries at once with the rest.
    if (!info.opened && !changedChannels && !excluded) this.chainIndex++;
    const wrapped = !info.opened && !excluded && this.chainIndex % this.chain.length === 0;
    const delay = changedChannels || excluded ? 0 : info.opened || wrapped ? this.backoff.next() : 0;
    this.setState('reconnecting');
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.open();
    }, delay);
  }

  private recovery(channel: string, answer: Recovery): void {
    const sub = this.subs.get(channel);
    if (!sub) return;
    sub.position = answer.recovered ? { epoch: answer.top.epoch, seq: answer.top.seq - answer.replayed } : answer.top;
    sub.opts.onRecovery?.(answer);
  }

  /** Hands an event on once: a position at or before the last one delivered is a duplicate. */
  private deliver(event: ChannelEvent): void {
    const sub = this.subs.get(event.channel);
    if (!sub) return;
    const p = sub.position;
    if (p && p.epoch === event.epoch && event.seq <= p.seq) return;
    sub.position = { epoch: event.epoch, seq: event.seq };
    sub.opts.onEvent(event);
  }

  private alive(): void {
    this.lastAlive = Date.now();
  }

  /** Checks for silence twice per window, rather than re-arming a timer on every message. */
  private armWatchdog(): void {
    clearInterval(this.watchdog);
    this.watchdog = setInterval(
      () => {
        if (this.stateValue === 'connected' && Date.now() - this.lastAlive > this.watchdogMs) this.reconnect();
      },
      Math.max(50, this.watchdogMs / 2),
    );
    (this.watchdog as { unref?: () => void }).unref?.();
  }

  private setState(state: ConnectionState): void {
    if (this.stateValue === state && state !== 'connected') return;
    this.stateValue = state;
    for (const l of this.listeners) l(state, this.transport?.name);
  }

  private watchVisibility(): () => void {
    const doc = (globalThis as { document?: { visibilityState: string; addEventListener: Function; removeEventListener: Function } }).document;
    if (!doc || this.opts.visibilityReconnect === false) return () => undefined;
    const onChange = () => {
      if (doc.visibilityState !== 'visible' || this.stateValue === 'closed' || this.stateValue === 'idle') return;
      if (this.stateValue !== 'connected' || Date.now() - this.lastAlive > this.watchdogMs) this.reconnect();
    };
    doc.addEventListener('visibilitychange', onChange);
    return () => doc.removeEventListener('visibilitychange', onChange);
  }
}
