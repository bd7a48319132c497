import { TributaryError } from '../errors.js';

/**
 * Channel names: `public:<name…>`, `org:<org>:<name…>`, `user:<id>[:<name…>]`, and the
 * read-only `job:<id>` (a batch job's progress topic, written only by the job runner).
 * Segments are `[A-Za-z0-9_.@-]`, 1–64 characters; at most 255 characters in all. A channel
 * is the hub topic of the same name (no other producer uses these namespaces).
 */
export type Namespace = 'public' | 'org' | 'user' | 'job';

export interface Channel {
  name: string;
  namespace: Namespace;
  /** The org of an `org:` channel, the user of a `user:` channel. */
  owner?: string;
}

const SEGMENT = /^[A-Za-z0-9_.@-]{1,64}$/;
const MIN_SEGMENTS: Record<Namespace, number> = { public: 2, org: 3, user: 2, job: 2 };

export function parseChannel(name: string): Channel | null {
  if (typeof name !== 'string' || name.length > 255) return null;
  const parts = name.split(':');
  const namespace = parts[0] as Namespace;
  if (!Object.hasOwn(MIN_SEGMENTS, namespace) || parts.length < MIN_SEGMENTS[namespace]) return null;
  if (!parts.slice(1).every((p) => SEGMENT.test(p))) return null;
  if (namespace === 'job') return parts.length === 2 ? { name, namespace } : null;
  return namespace === 'public' ? { name, namespace } : { name, namespace, owner: parts[1]! };
}

export function requireChannel(name: string): Channel {
  const channel = parseChannel(name);
  if (!channel) {
    throw new TributaryError(
      'invalid_channel',
      `${JSON.stringify(String(name).slice(0, 80))} is not a channel: use public:<name>, org:<org>:<name> or user:<id>[:<name>].`,
      { channel: String(name).slice(0, 255) },
    );
  }
  return channel;
}

/** Seed services map onto channels: `finance` is `org:<org>:finance` with an org, else `public:finance`. */
export function channelForService(service: string, org: string | undefined): string {
  return org ? `org:${org}:${service}` : `public:${service}`;
}

/** The seed's service name of a channel: its last segment. */
export function serviceOf(channel: string): string {
  return channel.slice(channel.lastIndexOf(':') + 1);
}

export const isServiceName = (s: unknown): s is string => typeof s === 'string' && SEGMENT.test(s);
