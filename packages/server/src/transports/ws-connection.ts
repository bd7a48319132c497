import type { Duplex } from 'node:stream';
import { WebSocket, type RawData } from 'ws';
import type { EndReason, RecoveryInfo, Sink, Subscription } from '../streams/hub.js';
import type { LogEvent } from '../streams/types.js';
import type { RealtimeMetrics } from '../realtime/metrics.js';
import { nextDrain } from './drain.js';
import { LineBatch } from './ws-batch.js';
import { PreparedMessage } from './ws-frames.js';
import { beforeWrite, endBurst, type BurstState } from './tick-coalescer.js';

/** Close codes every realtime WebSocket uses (docs/realtime.md). */
export const CLOSE = {
  normal: 1000,
  unsupportedData: 1003,
  tooBig: 1009,
  restart: 1012,
  badRequest: 4000,
  unauthorized: 4001,
  unsupportedVersion: 4002,
  handshakeTimeout: 4003,
  slowConsumer: 4008,
  pingTimeout: 4009,
  /** The client is outside the `realtime_ws` rollout: use SSE or long-poll (do not retry WebSocket). */
  rolloutExcluded: 4010,
  tooManyFrames: 4029,
} as const;

/** What every connection of one endpoint shares (one object, not one per connection). */
export interface ConnectionOptions {
  metrics: RealtimeMetrics;
  compressionThresholdBytes: number;
  /** While corked, pack messages sent with `sendLine` into newline-separated frames (native protocol only). */
  batchWhenCorked: boolean;
  /** The endpoint's open connections: a connection leaves it when it closes. */
  registry: Set<WsConnection>;
  /** Frame flood bound: a token bucket of `burst` frames refilled at `perSecond`. */
  frameRate: { perSecond: number; burst: number };
  /** Replies queued for a client that does not read are bounded like events (slow consumer). */
  maxBufferedBytes: number;
}

/** What a protocol (native, seed) does with a connection's text frames and its close. */
export interface ProtocolHandler {
  text(text: string): void;
  closed(): void;
}

/** The `ws` socket class of our server: knows its connection, so its listeners need no closure per connection. */
export class ConnectionSocket extends WebSocket {
  connection: WsConnection | undefined;
}

const connectionOf = (ws: WebSocket) => (ws as ConnectionSocket).connection;

function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  connectionOf(this)?.received(data, isBinary);
}

function onPong(this: WebSocket): void {
  const conn = connectionOf(this);
  if (conn) conn.lastSeen = Date.now();
}

function onClose(this: WebSocket): void {
  connectionOf(this)?.closed();
}

/**
 * One accepted WebSocket: writes prepared frames straight to its socket (ws never compresses or
 * queues here, so order is kept), holds its channel subscriptions, and closes with our codes.
 * Idle connections are what a server holds most of, so each keeps few objects: shared
 * listeners and options, its protocol as one object, no request or URL.
 */
export class WsConnection implements BurstState {
  readonly subscriptions = new Map<string, Subscription>();
  lastSeen = Date.now();
  closedWith: number | undefined;
  /** The protocol speaking on this connection. */
  protocol: ProtocolHandler | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private corks = 0;
  private batch: LineBatch | undefined;
  /** Tick of the last prepared write, and whether this tick's further writes are held (tick-coalescer.ts). */
  lastWriteTick = -1;
  holding = false;
  /** Frames the client may still send now (token bucket), and when it was last refilled. */
  private frameTokens: number;
  private frameRefill = Date.now();

  /** `windowBits`: the deflate window the client negotiated, null without permessage-deflate. */
  constructor(
    readonly ws: ConnectionSocket,
    private readonly socket: Duplex,
    private readonly windowBits: number | null,
    private readonly opts: ConnectionOptions,
  ) {
    opts.registry.add(this);
    this.frameTokens = opts.frameRate.burst;
    ws.connection = this;
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('close', onClose);
  }

  /** Closes the connection unless `handshakeDone` is called within `ms` (the client never completed its handshake). */
  requireHandshake(ms: number, what: string): void {
    this.handshakeTimer = setTimeout(() => {
      this.sendError('handshake_required', `No ${what} within ${ms} ms.`);
      this.close(CLOSE.handshakeTimeout, 'handshake_timeout');
    }, ms);
    this.handshakeTimer.unref();
  }

  handshakeDone(): void {
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
  }

  /** Text frames go to the protocol; binary frames are refused (the protocols are JSON text). */
  received(data: RawData, isBinary: boolean): void {
    const now = Date.now();
    this.lastSeen = now;
    if (!this.protocol || this.closedWith !== undefined) return;
    if (!this.takeFrameToken(now)) {
      this.sendError('too_many_frames', `At most ${this.opts.frameRate.perSecond} frames per second.`);
      this.close(CLOSE.tooManyFrames, 'too_many_frames');
      return;
    }
    if (!isBinary) return this.protocol.text(data.toString());
    this.sendError('malformed_frame', 'Binary frames are not part of the protocol; send JSON text.');
    this.close(CLOSE.unsupportedData, 'malformed_frame');
  }

  private takeFrameToken(now: number): boolean {
    const { perSecond, burst } = this.opts.frameRate;
    this.frameTokens = Math.min(burst, this.frameTokens + ((now - this.frameRefill) * perSecond) / 1000);
    this.frameRefill = now;
    if (this.frameTokens < 1) return false;
    this.frameTokens--;
    return true;
  }

  closed(): void {
    this.handshakeDone();
    this.opts.registry.delete(this);
    this.dropSubscriptions();
    this.protocol?.closed();
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN && this.closedWith === undefined;
  }

  /** Bytes queued for this client and not yet taken by the network (a batch being packed included). */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount + (this.batch?.pendingBytes ?? 0);
  }

  /** Holds writes until the returned function is called; with batching, `sendLine` messages share frames meanwhile. */
  cork(): () => void {
    this.socket.cork();
    if (this.corks++ === 0 && this.opts.batchWhenCorked) this.batch = new LineBatch((text) => this.sendFrame(text));
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.corks === 0 && this.batch) {
        this.batch.flush();
        this.batch = undefined;
      }
      this.socket.uncork();
    };
  }

  /** True while messages sent with `sendLine` are packed into shared frames. */
  get batching(): boolean {
    return this.batch !== undefined;
  }

  /** Sends one protocol message as a line of the current batch (see `batching`). */
  sendLine(text: string): void {
    if (this.open) this.batch!.add(text);
  }

  /** Resolves when the socket took everything queued, or closed. */
  drained(): Promise<void> {
    if (!this.open || this.bufferedAmount === 0) return Promise.resolve();
    return nextDrain(this.socket, this.ws);
  }

  sendPrepared(message: PreparedMessage): void {
    if (!this.open) return;
    const { bytes, compressed } = message.frame(this.windowBits, this.opts.compressionThresholdBytes);
    beforeWrite(this, this.socket);
    this.socket.write(bytes);
    if (compressed) this.opts.metrics.compressedMessages++;
  }

  releaseTick(): void {
    endBurst(this, this.socket);
  }

  /** One frame for this connection only (a batch): deflated like any message when negotiated and large enough. */
  private sendFrame(text: string): void {
    this.sendPrepared(PreparedMessage.of(text));
  }

  sendJson(value: unknown): void {
    if (!this.open) return;
    if (this.bufferedAmount > this.opts.maxBufferedBytes) {
      this.opts.metrics.slowConsumer(this.bufferedAmount);
      this.close(CLOSE.slowConsumer, 'slow_consumer');
      return;
    }
    this.ws.send(JSON.stringify(value), { compress: false });
  }

  /** Sends an error frame (protocol errors are counted). */
  sendError(code: string, message: string, extra: Record<string, unknown> = {}): void {
    this.opts.metrics.protocolErrors++;
    this.sendJson({ type: 'error', code, message, ...extra });
  }

  close(code: number, reason: string): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = code;
    this.dropSubscriptions();
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, reason.slice(0, 120));
  }

  private dropSubscriptions(): void {
    const subs = [...this.subscriptions.values()];
    this.subscriptions.clear();
    for (const sub of subs) sub.close();
  }
}

/** One channel of a connection, as the hub sees it. */
export class WsChannelSink implements Sink {
  constructor(
    private readonly conn: WsConnection,
    private readonly metrics: RealtimeMetrics,
    private readonly encode: (event: LogEvent) => PreparedMessage,
    /** Called once: dropped after, so an idle subscription does not keep the subscribe request's scope. */
    private onOpen: ((info: RecoveryInfo) => void) | undefined,
    /** The event as one protocol message, for connections that batch while corked. */
    private readonly line?: (event: LogEvent) => string,
  ) {}

  open(info: RecoveryInfo): void {
    if (info.recovered) this.metrics.missedEventsReplayed += info.replayed;
    const onOpen = this.onOpen;
    this.onOpen = undefined;
    onOpen?.(info);
  }

  send(event: LogEvent): void {
    if (!this.conn.open) return;
    if (this.line && this.conn.batching) this.conn.sendLine(this.line(event));
    else this.conn.sendPrepared(this.encode(event));
    this.metrics.eventsDelivered++;
  }

  backlog(): number {
    return this.conn.open ? this.conn.bufferedAmount : 0;
  }

  drained(): Promise<void> {
    return this.conn.drained();
  }

  cork(): () => void {
    return this.conn.cork();
  }

  end(reason: EndReason): void {
    if (reason === 'slow_consumer') {
      if (!this.conn.open) return; // another channel of this connection already cut it
      this.metrics.slowConsumer(this.conn.bufferedAmount);
      this.conn.close(CLOSE.slowConsumer, 'slow_consumer');
    } else if (reason === 'shutdown') {
      this.conn.close(CLOSE.restart, 'server restart: reconnect and resume');
    }
  }
}
