import { TributaryError } from '../errors.js';
import type { RecoveryInfo, StreamHub } from '../streams/hub.js';
import type { Position, StartAt } from '../streams/types.js';
import type { Identity, RealtimeAuth } from './auth.js';
import { requireChannel } from './channels.js';
import type { RealtimeMetrics } from './metrics.js';

/** What a transport needs to subscribe connections to channels. */
export interface ChannelAccess {
  hub: StreamHub;
  auth: RealtimeAuth;
  metrics: RealtimeMetrics;
  maxChannels: number;
}

/** Validates and authorises a connection's channel list; throws the first problem. */
export async function checkChannels(access: ChannelAccess, identity: Identity, names: string[]): Promise<string[]> {
  if (names.length === 0) throw new TributaryError('invalid_field', 'Name at least one channel.', { field: 'channels' });
  if (names.length > access.maxChannels) throw new TributaryError('too_many_channels', `At most ${access.maxChannels} channels per connection.`);
  if (new Set(names).size !== names.length) throw new TributaryError('invalid_field', 'A channel is listed twice.', { field: 'channels' });
  const channels = names.map(requireChannel);
  for (const channel of channels) await access.auth.authorize(identity, channel);
  return names;
}

/** A position resumes after it; none means live from now. */
export function startAt(position: Position | null | undefined, fromStart = false): StartAt {
  if (position) return { from: 'position', position };
  return fromStart ? { from: 'start' } : { from: 'top' };
}

/** The client's position once a subscription opened: before the replay, or the top when not recovered. */
export function positionAtOpen(info: RecoveryInfo): Position {
  return info.recovered ? { epoch: info.top.epoch, seq: info.top.seq - info.replayed } : info.top;
}

/** The recovery answer as every protocol sends it. */
export function recoveryFields(info: RecoveryInfo) {
  return info.recovered
    ? { recovered: true as const, top: info.top, replayed: info.replayed }
    : { recovered: false as const, reason: info.reason, top: info.top };
}
