import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ERROR_CATALOGUE, type ErrorCode } from '../errors.js';
import type { ChannelAccess } from '../realtime/access.js';
import { envelopeJson } from '../realtime/envelope.js';
import { encodeOnce } from '../streams/encode-once.js';
import type { LogEvent } from '../streams/types.js';
import { seedEventFrame } from '../realtime/seed-protocol.js';
import { CLOSE, ConnectionSocket, WsConnection, type ConnectionOptions } from './ws-connection.js';
import { deflateWindowBits, PreparedMessage } from './ws-frames.js';
import { serveNative, type NativeOptions } from './ws-native.js';
import { serveSeed } from './ws-seed.js';
import type { Flags } from '../ops/flags.js';
import type { JsonLimits } from '../input/json.js';
import type { Realtime } from '../realtime/realtime.js';

export const WS_PATHS = { native: '/v1/ws', seed: '/v2/realtime/stream' } as const;

export interface WsServerOptions {
  access: ChannelAccess;
  /** Read per upgrade: the `websocket` feature flag (off: the upgrade is refused with 403). */
  enabled: () => boolean;
  /** Read per upgrade: whether this client is in the `realtime_ws` rollout (out: closed with 4010 after the handshake). */
  admitted: (req: IncomingMessage) => Promise<boolean>;
  pingIntervalMs: number;
  seedPingIntervalMs: number;
  compressionThresholdBytes: number;
  maxFrameBytes: number;
  handshakeTimeoutMs: number;
  jsonLimits: JsonLimits;
  maxFramesPerSecond: number;
  /** Bytes of replies and events queued for one client before it is cut off (4008). */
  maxBufferedBytes: number;
  /** Cross-origin upgrades carrying cookies are refused unless their Origin is listed (or the server's own host). */
  allowedOrigins: string[];
}

/**
 * Both realtime WebSocket endpoints on the HTTP server's `upgrade` event: one `ws` server
 * (noServer), one ping timer per protocol for all connections, prepared frames per event.
 */
export class RealtimeWebSockets {
  private readonly wss: WebSocketServer;
  private readonly extensions = new WeakMap<IncomingMessage, string>();
  private readonly connections = { native: new Set<WsConnection>(), seed: new Set<WsConnection>() };
  /** Per endpoint, shared by all its connections. */
  private readonly connectionOptions: Record<'native' | 'seed', ConnectionOptions>;
  private readonly nativeOptions: NativeOptions;
  private readonly timers: NodeJS.Timeout[] = [];
  private closing = false;
  private readonly allowedOrigins: Set<string>;
  private readonly pubFrame;
  private readonly seedFrame;

  constructor(private readonly opts: WsServerOptions) {
    const { metrics } = opts.access;
    const onDeflate = () => {
      metrics.compressionsPrepared++;
    };
    this.pubFrame = encodeOnce((e) => PreparedMessage.of(pubLine(e), onDeflate));
    this.seedFrame = encodeOnce((e) => PreparedMessage.of(seedEventFrame(e), onDeflate));
    // A client subscribing to every channel it may at once is a burst, not a flood.
    const frameRate = { perSecond: opts.maxFramesPerSecond, burst: opts.access.maxChannels + 100 };
    const shared = (kind: 'native' | 'seed') => ({
      metrics,
      compressionThresholdBytes: opts.compressionThresholdBytes,
      batchWhenCorked: kind === 'native',
      registry: this.connections[kind],
      frameRate,
      maxBufferedBytes: opts.maxBufferedBytes,
    });
    this.connectionOptions = { native: shared('native'), seed: shared('seed') };
    this.nativeOptions = {
      access: opts.access,
      pingIntervalMs: opts.pingIntervalMs,
      handshakeTimeoutMs: opts.handshakeTimeoutMs,
      pubFrame: this.pubFrame,
      pubLine,
      jsonLimits: opts.jsonLimits,
    };
    this.allowedOrigins = new Set(opts.allowedOrigins.map(normalOrigin));
    this.wss = new WebSocketServer({
      noServer: true,
      WebSocket: ConnectionSocket,
      clientTracking: false,
      maxPayload: opts.maxFrameBytes,
      // Negotiated so clients accept deflated frames; we deflate ourselves, once per event, so
      // ws's own threshold is never reached and without context takeover every receiver shares the bytes.
      perMessageDeflate: { serverNoContextTakeover: true, threshold: Number.MAX_SAFE_INTEGER },
    });
    this.wss.on('headers', (headers, req) => {
      const line = headers.find((h) => /^sec-websocket-extensions:/i.test(h));
      if (line) this.extensions.set(req, line.slice(line.indexOf(':') + 1));
    });
    this.timers.push(setInterval(() => this.pingNative(), opts.pingIntervalMs));
    this.timers.push(setInterval(() => this.pingSeed(), opts.seedPingIntervalMs));
    for (const t of this.timers) t.unref();
  }

  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const kind = url.pathname === WS_PATHS.native ? 'native' : url.pathname === WS_PATHS.seed ? 'seed' : null;
      if (!kind) {
        if (server.listenerCount('upgrade') === 1) refuse(socket, 'not_found', `No WebSocket endpoint at ${url.pathname}.`);
        return;
      }
      socket.on('error', destroySocket);
      if (this.closing) return refuse(socket, 'unavailable', 'The server is restarting; reconnect shortly.');
      if (!this.opts.enabled())
        return refuse(socket, 'feature_flag_disabled', 'WebSocket is disabled by a feature flag (websocket); use SSE or long-poll.', { flag: 'websocket' });
      if (!this.originAllowed(req))
        return refuse(
          socket,
          'origin_forbidden',
          `Origin ${JSON.stringify(req.headers.origin).slice(0, 200)} may not open a WebSocket with cookies; list it in realtime.allowedOrigins.`,
        );
      // The rollout buckets by who connects, which may take a credential lookup.
      void this.opts.admitted(req).then(
        (admitted) => {
          if (socket.destroyed) return;
          if (!admitted) {
            // A close code, not an HTTP refusal: browsers cannot read a refused handshake's status.
            this.wss.handleUpgrade(req, socket, head, (ws) => ws.close(CLOSE.rolloutExcluded, 'realtime_ws: not in rollout; use SSE or long-poll'));
            return;
          }
          // Counted past the flags: a client a flag turns away was not failed (connection success alert).
          this.opts.access.metrics.attempt(kind === 'native' ? 'websocket' : 'seed');
          this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(kind, ws as ConnectionSocket, socket, req, url)); // our `WebSocket` class
        },
        () => refuse(socket, 'unavailable', 'Could not evaluate the realtime_ws flag; retry.'),
      );
    });
  }

  /** Tells every client to reconnect (1012) after what it was sent; cuts the rest after `graceMs`. */
  async close(graceMs = 2_000): Promise<void> {
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    const all = [...this.connections.native, ...this.connections.seed];
    const closed = all.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.ws.readyState === c.ws.CLOSED) return resolve();
          c.ws.once('close', () => resolve());
        }),
    );
    for (const c of all) c.close(CLOSE.restart, 'server restart: reconnect and resume');
    const timer = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([Promise.all(closed), timer]);
    for (const c of all) c.ws.terminate();
    this.wss.close();
  }

  /**
   * Cross-site WebSocket hijacking: a browser sends the victim's cookies with an upgrade from
   * any page. Upgrades that carry a Cookie must come from our own host or a listed origin;
   * without cookies (tokens in the URL or handshake) any origin may connect.
   */
  private originAllowed(req: IncomingMessage): boolean {
    const { origin, cookie, host } = req.headers;
    if (!cookie || origin === undefined) return true;
    const o = normalOrigin(origin);
    if (this.allowedOrigins.has(o)) return true;
    try {
      return new URL(o).host === host?.toLowerCase();
    } catch {
      return false;
    }
  }

  stats() {
    return { native: this.connections.native.size, seed: this.connections.seed.size };
  }

  private accept(kind: 'native' | 'seed', ws: ConnectionSocket, socket: Duplex, req: IncomingMessage, url: URL): void {
    ws.on('error', terminateWs);
    const conn = new WsConnection(ws, socket, deflateWindowBits(this.extensions.get(req)), this.connectionOptions[kind]);
    const token = connectionCredential(req, url);
    if (kind === 'native') serveNative(conn, this.nativeOptions, token);
    else
      serveSeed(conn, {
        access: this.opts.access,
        handshakeTimeoutMs: this.opts.handshakeTimeoutMs,
        eventFrame: this.seedFrame,
        token,
        jsonLimits: this.opts.jsonLimits,
      });
  }

  /** One ping frame for every native connection; a client silent for two intervals is dropped. */
  private pingNative(): void {
    const now = Date.now();
    const ping = PreparedMessage.of(JSON.stringify({ type: 'ping', time: now }));
    for (const conn of this.connections.native) {
      if (now - conn.lastSeen > 2 * this.opts.pingIntervalMs + 1_000) {
        conn.close(CLOSE.pingTimeout, 'ping_timeout');
        setTimeout(() => conn.ws.terminate(), 1_000).unref();
      } else conn.sendPrepared(ping);
    }
  }

  private pingSeed(): void {
    const ping = PreparedMessage.of(JSON.stringify({ type: 'ping', timestamp: new Date().toISOString() }));
    for (const conn of this.connections.seed) conn.sendPrepared(ping);
  }
}

// Shared listeners: a per-connection closure would keep the upgrade's scope (request, URL) alive.
function destroySocket(this: Duplex): void {
  this.destroy();
}

function terminateWs(this: WebSocket): void {
  this.terminate();
}

/** The native protocol's `pub` message of an event. */
const pubLine = (e: LogEvent) => `{"type":"pub",${envelopeJson(e).slice(1)}`;

/** Answers an upgrade with a plain HTTP error (the client sees it as a failed handshake). */
function refuse(socket: Duplex, code: ErrorCode, message: string, extra: Record<string, unknown> = {}): void {
  const status = ERROR_CATALOGUE[code].status;
  const body = JSON.stringify({ code, message, ...extra });
  socket.end(`HTTP/1.1 ${status} ${code}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

const normalOrigin = (origin: string) => origin.trim().toLowerCase().replace(/\/+$/, '');

/** The WebSocket endpoints of an app, from its config and flags. */
export function realtimeWebSockets(
  realtime: Realtime,
  flags: Flags,
  identityKeyOf: (req: IncomingMessage) => Promise<string>,
  jsonLimits: JsonLimits,
  maxBufferedBytes: number,
): RealtimeWebSockets {
  const c = realtime.config;
  return new RealtimeWebSockets({
    access: realtime.access,
    enabled: () => flags.isEnabled('websocket'),
    admitted: async (req) => flags.evaluate('realtime_ws', await identityKeyOf(req)),
    pingIntervalMs: c.pingIntervalMs,
    seedPingIntervalMs: c.seedPingIntervalMs,
    compressionThresholdBytes: c.compressionThresholdBytes,
    maxFrameBytes: c.maxFrameBytes,
    handshakeTimeoutMs: c.handshakeTimeoutMs,
    jsonLimits,
    maxFramesPerSecond: c.maxFramesPerSecond,
    maxBufferedBytes,
    allowedOrigins: c.allowedOrigins,
  });
}

/** The upgrade's credential: `?access_token=`, `?token=`, `Authorization: Bearer`, or the web app's access cookie. */
export function connectionCredential(req: IncomingMessage, url: URL): string | undefined {
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  const cookie = /(?:^|;\s*)tributary_access=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
  return url.searchParams.get('access_token') ?? url.searchParams.get('token') ?? bearer ?? cookie ?? undefined;
}
