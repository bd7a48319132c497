import { TributaryError } from '../errors.js';
import { recoveryFields, type ChannelAccess } from '../realtime/access.js';
import type { Identity } from '../realtime/auth.js';
import { channelForService, parseChannel } from '../realtime/channels.js';
import type { JsonLimits } from '../input/json.js';
import { parseFrameJson } from '../realtime/native-protocol.js';
import { lastSeqFor, seedClientFrame, seedHandshake, type SeedHandshake } from '../realtime/seed-protocol.js';
import type { RecoveryInfo } from '../streams/hub.js';
import type { LogEvent, StartAt } from '../streams/types.js';
import { CLOSE, WsChannelSink, type WsConnection } from './ws-connection.js';
import type { PreparedMessage } from './ws-frames.js';

export interface SeedOptions {
  access: ChannelAccess;
  handshakeTimeoutMs: number;
  eventFrame: (event: LogEvent) => PreparedMessage;
  token: string | undefined;
  jsonLimits: JsonLimits;
}

/**
 * The seed protocol on one connection: the services handshake subscribes one channel per
 * service (replaying after `lastSeq`), then `{"type":"ack","seq":0,…}` with each service's
 * recovery answer; events follow as `{"type":"event","service","events":[…],"seq":N}`.
 */
export function serveSeed(conn: WsConnection, opts: SeedOptions): void {
  const { access } = opts;
  let state: 'handshake' | 'subscribing' | 'ready' = 'handshake';
  let release: (() => void) | undefined;
  const identity = access.auth.identify(opts.token);
  identity.catch(() => undefined);

  conn.requireHandshake(opts.handshakeTimeoutMs, 'handshake');
  conn.protocol = { text: receive, closed: () => release?.() };

  function receive(text: string): void {
    const json = parseFrameJson(text, opts.jsonLimits);
    if (!json.ok) {
      conn.sendError(json.code, json.message);
      conn.close(CLOSE.badRequest, json.code);
      return;
    }
    const value = json.value;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      conn.sendError('malformed_frame', 'The frame is not a JSON object.');
      conn.close(CLOSE.badRequest, 'malformed_frame');
      return;
    }
    if (state === 'handshake') {
      state = 'subscribing';
      void handshake(value as Record<string, unknown>).catch((err: unknown) => {
        // A dependency away (Redis): said with its code, and closed as "reconnect and resume".
        if (err instanceof TributaryError && err.status === 503) {
          conn.sendError(err.code, err.message, err.details);
          conn.close(CLOSE.restart, err.code);
        } else conn.close(CLOSE.badRequest, 'internal_error');
      });
      return;
    }
    const frame = seedClientFrame.safeParse(value);
    if (!frame.success) {
      const type = (value as { type?: unknown }).type;
      conn.sendError('unknown_type', `Unknown message type ${JSON.stringify(type)?.slice(0, 40)}.`);
      return;
    }
    if (frame.data.type === 'ping') conn.sendJson({ type: 'pong', timestamp: new Date().toISOString() });
  }

  async function handshake(value: Record<string, unknown>): Promise<void> {
    conn.handshakeDone();
    if ('version' in value && value.version !== 1) {
      conn.sendError('unsupported_version', `Protocol version ${JSON.stringify(value.version)} is not supported; send "version": 1.`, { supported: [1] });
      conn.close(CLOSE.unsupportedVersion, 'unsupported_version');
      return;
    }
    const parsed = seedHandshake.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue.path.join('.') || 'handshake';
      const code = issue.code === 'unrecognized_keys' ? 'unknown_field' : 'invalid_field';
      conn.sendError(code, `Handshake: ${field}: ${issue.message}. Send {"services":[…],"version":1,"lastSeq"?:N}.`, { field });
      conn.close(CLOSE.badRequest, code);
      return;
    }
    let who: Identity;
    try {
      who = await identity;
    } catch (err) {
      const e = err instanceof TributaryError ? err : new TributaryError('invalid_token');
      conn.sendError(e.code, e.message);
      conn.close(CLOSE.unauthorized, e.code);
      return;
    }
    if (!conn.open) return;
    release = access.metrics.connected('seed', who);
    const h = parsed.data;
    const services = [...new Set(h.services)];
    if (services.length > access.maxChannels) {
      conn.sendError('too_many_channels', `At most ${access.maxChannels} services per connection.`);
      conn.close(CLOSE.badRequest, 'too_many_channels');
      return;
    }
    const channels: Record<string, string> = {};
    const recovery: Record<string, ReturnType<typeof recoveryFields>> = {};
    const forbidden: string[] = [];
    for (const svc of services) {
      const channel = channelForService(svc, who.org);
      if (!access.auth.mayRead(who, parseChannel(channel)!)) {
        forbidden.push(svc);
        conn.sendError('channel_forbidden', `This connection may not subscribe to ${channel} (service ${svc}).`, { service: svc, channel });
        continue;
      }
      channels[svc] = channel;
      const sink = new WsChannelSink(conn, access.metrics, opts.eventFrame, (info: RecoveryInfo) => {
        recovery[svc] = recoveryFields(info);
      });
      const sub = await access.hub.subscribe(channel, await startFor(h, svc, channel), sink);
      if (!conn.open) return sub.close();
      conn.subscriptions.set(channel, sub);
    }
    state = 'ready';
    conn.sendJson({
      type: 'ack',
      seq: 0,
      timestamp: new Date().toISOString(),
      services: Object.keys(channels),
      channels,
      recovery,
      ...(forbidden.length ? { forbidden } : {}),
    });
  }

  /** `lastSeq` has no epoch in the seed: it counts in the channel's current epoch unless `epochs` names one. */
  async function startFor(h: SeedHandshake, svc: string, channel: string): Promise<StartAt> {
    const seq = lastSeqFor(h, svc);
    if (seq === undefined) return { from: 'top' };
    if (seq === 0 && !h.epochs?.[svc]) return { from: 'start' };
    const epoch = h.epochs?.[svc] ?? (await access.hub.recover(channel, { from: 'top' })).top.epoch;
    return { from: 'position', position: { epoch: epoch || 'none', seq } };
  }
}
