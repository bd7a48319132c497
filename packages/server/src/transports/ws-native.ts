import type { IncomingMessage } from 'node:http';
import { TributaryError } from '../errors.js';
import { checkChannels, recoveryFields, startAt, type ChannelAccess } from '../realtime/access.js';
import type { Identity } from '../realtime/auth.js';
import { PROTOCOL_VERSION, parseClientFrame, type ClientFrame } from '../realtime/native-protocol.js';
import type { LogEvent } from '../streams/types.js';
import { CLOSE, WsChannelSink, type WsConnection } from './ws-connection.js';
import type { PreparedMessage } from './ws-frames.js';

export interface NativeOptions {
  access: ChannelAccess;
  pingIntervalMs: number;
  handshakeTimeoutMs: number;
  /** The `pub` frame of an event, prepared once per event. */
  pubFrame: (event: LogEvent) => PreparedMessage;
  /** The same message as text, packed with others into one frame during a replay. */
  pubLine: (event: LogEvent) => string;
  queryToken: string | undefined;
}

type Frame<T extends ClientFrame['type']> = Extract<ClientFrame, { type: T }>;

/**
 * The native protocol on one connection: `connect` (version, token), then any number of
 * `subscribe` / `unsubscribe`, each channel with its own position and recovery answer.
 * Frames are handled one after another, so replies keep the order of requests.
 */
export function serveNative(conn: WsConnection, _req: IncomingMessage, opts: NativeOptions): void {
  const { access } = opts;
  let identity: Identity | undefined;
  let release: (() => void) | undefined;
  let queue = Promise.resolve();
  const pending = new Set<string>();

  const handshakeDone = conn.requireHandshake(opts.handshakeTimeoutMs, 'connect frame');
  conn.ws.on('close', () => release?.());
  conn.onText((text) => {
    queue = queue.then(() => handle(text)).catch(() => conn.close(CLOSE.badRequest, 'internal_error'));
  });

  async function handle(text: string): Promise<void> {
    if (!conn.open) return;
    const parsed = parseClientFrame(text);
    if (!parsed.ok) {
      conn.sendError(parsed.code, parsed.message, idOf(parsed.id));
      if (parsed.fatal) conn.close(CLOSE.badRequest, parsed.code);
      return;
    }
    const frame = parsed.frame;
    if (frame.type === 'connect') return connect(frame);
    if (!identity) {
      conn.sendError('handshake_required', 'Send {"type":"connect","version":1} first.', idOf(frame.type === 'pong' ? undefined : frame.id));
      conn.close(CLOSE.badRequest, 'handshake_required');
      return;
    }
    if (frame.type === 'subscribe') return subscribe(frame, identity);
    if (frame.type === 'unsubscribe') return unsubscribe(frame);
    if (frame.type === 'ping') conn.sendJson({ type: 'pong', ...idOf(frame.id) });
  }

  async function connect(frame: Frame<'connect'>): Promise<void> {
    if (identity) return conn.sendError('invalid_field', 'Already connected.', idOf(frame.id));
    if (frame.version !== PROTOCOL_VERSION) {
      conn.sendError('unsupported_version', `Protocol version ${frame.version} is not supported; this server speaks ${PROTOCOL_VERSION}.`, { supported: [PROTOCOL_VERSION] });
      conn.close(CLOSE.unsupportedVersion, 'unsupported_version');
      return;
    }
    try {
      identity = await access.auth.identify(frame.token ?? opts.queryToken);
    } catch (err) {
      const e = err instanceof TributaryError ? err : new TributaryError('invalid_token');
      conn.sendError(e.code, e.message);
      conn.close(CLOSE.unauthorized, e.code);
      return;
    }
    handshakeDone();
    if (!conn.open) return;
    release = access.metrics.connected('websocket', identity);
    conn.sendJson({ type: 'connected', version: PROTOCOL_VERSION, sub: identity.sub, pingIntervalMs: opts.pingIntervalMs, ...idOf(frame.id) });
  }

  async function subscribe(frame: Frame<'subscribe'>, who: Identity): Promise<void> {
    const { channel } = frame;
    const reply = { ...idOf(frame.id), channel };
    if (conn.subscriptions.has(channel) || pending.has(channel)) return conn.sendError('already_subscribed', `Already subscribed to ${channel}.`, reply);
    if (conn.subscriptions.size + pending.size >= access.maxChannels) {
      return conn.sendError('too_many_channels', `At most ${access.maxChannels} channels per connection.`, reply);
    }
    try {
      checkChannels(access, who, [channel]);
    } catch (err) {
      const e = err as TributaryError;
      return conn.sendError(e.code, e.message, reply);
    }
    pending.add(channel);
    const sink = new WsChannelSink(conn, access.metrics, opts.pubFrame, (info) => conn.sendJson({ type: 'subscribed', ...reply, ...recoveryFields(info) }), opts.pubLine);
    try {
      const sub = await access.hub.subscribe(channel, startAt(frame.position, frame.from === 'start'), sink);
      if (conn.open) conn.subscriptions.set(channel, sub);
      else sub.close();
    } finally {
      pending.delete(channel);
    }
  }

  function unsubscribe(frame: Frame<'unsubscribe'>): void {
    const reply = { ...idOf(frame.id), channel: frame.channel };
    const sub = conn.subscriptions.get(frame.channel);
    if (!sub) return conn.sendError('not_subscribed', `Not subscribed to ${frame.channel}.`, reply);
    conn.subscriptions.delete(frame.channel);
    sub.close();
    conn.sendJson({ type: 'unsubscribed', ...reply });
  }
}

const idOf = (id: unknown) => (typeof id === 'number' || typeof id === 'string' ? { id } : {});
