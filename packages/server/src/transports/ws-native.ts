import { TributaryError } from '../errors.js';
import { checkChannels, recoveryFields, startAt, type ChannelAccess } from '../realtime/access.js';
import type { Identity } from '../realtime/auth.js';
import { PROTOCOL_VERSION, parseClientFrame, type ClientFrame } from '../realtime/native-protocol.js';
import type { JsonLimits } from '../input/json.js';
import type { LogEvent } from '../streams/types.js';
import { CLOSE, WsChannelSink, type ProtocolHandler, type WsConnection } from './ws-connection.js';
import type { PreparedMessage } from './ws-frames.js';

/** Shared by every native connection of a server. */
export interface NativeOptions {
  access: ChannelAccess;
  pingIntervalMs: number;
  handshakeTimeoutMs: number;
  /** The `pub` frame of an event, prepared once per event. */
  pubFrame: (event: LogEvent) => PreparedMessage;
  /** The same message as text, packed with others into one frame during a replay. */
  pubLine: (event: LogEvent) => string;
  jsonLimits: JsonLimits;
}

type Frame<T extends ClientFrame['type']> = Extract<ClientFrame, { type: T }>;

/**
 * The native protocol on one connection: `connect` (version, token), then any number of
 * `subscribe` / `unsubscribe`, each channel with its own position and recovery answer.
 */
export function serveNative(conn: WsConnection, opts: NativeOptions, queryToken: string | undefined): void {
  new NativeSession(conn, opts, queryToken);
}

/**
 * One connection's protocol state. A class rather than closures: an idle connection then costs
 * one object, not a scope and a function per handler.
 */
class NativeSession implements ProtocolHandler {
  private identity: Identity | undefined;
  private release: (() => void) | undefined;
  /** Frames are handled one after another, so replies keep the order of requests; unset when idle. */
  private tail: Promise<void> | undefined;
  /** The channel being subscribed (at most one: frames are handled in turn). */
  private subscribing: string | undefined;

  constructor(
    private readonly conn: WsConnection,
    private readonly opts: NativeOptions,
    private queryToken: string | undefined,
  ) {
    conn.requireHandshake(opts.handshakeTimeoutMs, 'connect frame');
    conn.protocol = this;
  }

  closed(): void {
    this.release?.();
  }

  text(text: string): void {
    const run = () => this.handle(text);
    const next = (this.tail ? this.tail.then(run) : run()).catch(() => this.conn.close(CLOSE.badRequest, 'internal_error'));
    this.tail = next;
    void next.then(() => {
      if (this.tail === next) this.tail = undefined;
    });
  }

  private async handle(text: string): Promise<void> {
    const { conn } = this;
    if (!conn.open) return;
    const parsed = parseClientFrame(text, this.opts.jsonLimits);
    if (!parsed.ok) {
      conn.sendError(parsed.code, parsed.message, idOf(parsed.id));
      if (parsed.fatal) conn.close(CLOSE.badRequest, parsed.code);
      return;
    }
    const frame = parsed.frame;
    if (frame.type === 'connect') return this.connect(frame);
    if (!this.identity) {
      conn.sendError('handshake_required', 'Send {"type":"connect","version":1} first.', idOf(frame.type === 'pong' ? undefined : frame.id));
      conn.close(CLOSE.badRequest, 'handshake_required');
      return;
    }
    if (frame.type === 'subscribe') return this.subscribe(frame, this.identity);
    if (frame.type === 'unsubscribe') return this.unsubscribe(frame);
    if (frame.type === 'ping') conn.sendJson({ type: 'pong', ...idOf(frame.id) });
  }

  private async connect(frame: Frame<'connect'>): Promise<void> {
    const { conn, opts } = this;
    if (this.identity) return conn.sendError('invalid_field', 'Already connected.', idOf(frame.id));
    if (frame.version !== PROTOCOL_VERSION) {
      conn.sendError('unsupported_version', `Protocol version ${frame.version} is not supported; this server speaks ${PROTOCOL_VERSION}.`, {
        supported: [PROTOCOL_VERSION],
      });
      conn.close(CLOSE.unsupportedVersion, 'unsupported_version');
      return;
    }
    let identity: Identity;
    try {
      identity = await opts.access.auth.identify(frame.token ?? this.queryToken);
    } catch (err) {
      const e = err instanceof TributaryError ? err : new TributaryError('invalid_token');
      conn.sendError(e.code, e.message);
      conn.close(CLOSE.unauthorized, e.code);
      return;
    }
    conn.handshakeDone();
    this.queryToken = undefined;
    if (!conn.open) return;
    this.identity = identity;
    this.release = opts.access.metrics.connected('websocket', identity);
    conn.sendJson({ type: 'connected', version: PROTOCOL_VERSION, sub: identity.sub, pingIntervalMs: opts.pingIntervalMs, ...idOf(frame.id) });
  }

  private async subscribe(frame: Frame<'subscribe'>, who: Identity): Promise<void> {
    const {
      conn,
      opts: { access },
    } = this;
    const { channel } = frame;
    const reply = { ...idOf(frame.id), channel };
    if (conn.subscriptions.has(channel) || this.subscribing === channel)
      return conn.sendError('already_subscribed', `Already subscribed to ${channel}.`, reply);
    if (conn.subscriptions.size + (this.subscribing ? 1 : 0) >= access.maxChannels) {
      return conn.sendError('too_many_channels', `At most ${access.maxChannels} channels per connection.`, reply);
    }
    try {
      await checkChannels(access, who, [channel]);
    } catch (err) {
      // A failed lookup (a job's owner, in the database) is a coded refusal too, never a dropped frame.
      const e = err instanceof TributaryError ? err : new TributaryError('unavailable');
      return conn.sendError(e.code, e.message, reply);
    }
    this.subscribing = channel;
    const sink = new WsChannelSink(
      conn,
      access.metrics,
      this.opts.pubFrame,
      (info) => conn.sendJson({ type: 'subscribed', ...reply, ...recoveryFields(info) }),
      this.opts.pubLine,
    );
    try {
      const sub = await access.hub.subscribe(channel, startAt(frame.position, frame.from === 'start'), sink);
      if (conn.open) conn.subscriptions.set(channel, sub);
      else sub.close();
    } catch (err) {
      // A dependency away (Redis): this channel is refused with its code; the connection stays.
      if (!(err instanceof TributaryError)) throw err;
      conn.sendError(err.code, err.message, { ...reply, ...err.details });
    } finally {
      this.subscribing = undefined;
    }
  }

  private unsubscribe(frame: Frame<'unsubscribe'>): void {
    const { conn } = this;
    const reply = { ...idOf(frame.id), channel: frame.channel };
    const sub = conn.subscriptions.get(frame.channel);
    if (!sub) return conn.sendError('not_subscribed', `Not subscribed to ${frame.channel}.`, reply);
    conn.subscriptions.delete(frame.channel);
    sub.close();
    conn.sendJson({ type: 'unsubscribed', ...reply });
  }
}

const idOf = (id: unknown) => (typeof id === 'number' || typeof id === 'string' ? { id } : {});
