import type { Position } from './types.js';

/**
 * SSE ids name the stream, the epoch and the sequence: `<key>:<epoch>:<seq>`. The key may
 * itself hold colons (channel names do), so ids are parsed from the right.
 */
export interface EventId {
  key: string;
  position: Position;
}

const EPOCH = /^[A-Za-z0-9_-]{1,32}$/;
const SEQ = /^(0|[1-9]\d{0,15})$/;

export function formatEventId(key: string, position: Position): string {
  return `${key}:${position.epoch}:${position.seq}`;
}

/** Parses an id this server issued; null for anything else (callers answer invalid_last_event_id). */
export function parseEventId(raw: string): EventId | null {
  if (raw.length > 512) return null;
  const last = raw.lastIndexOf(':');
  const mid = last > 0 ? raw.lastIndexOf(':', last - 1) : -1;
  if (mid <= 0) return null;
  const key = raw.slice(0, mid);
  const epoch = raw.slice(mid + 1, last);
  const seq = raw.slice(last + 1);
  if (!EPOCH.test(epoch) || !SEQ.test(seq) || /[\r\n\0]/.test(key)) return null;
  return { key, position: { epoch, seq: Number(seq) } };
}
