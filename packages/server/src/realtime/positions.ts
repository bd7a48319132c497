import { TributaryError } from '../errors.js';
import type { Position } from '../streams/types.js';

/**
 * One cursor for many channels: the position of each channel of a request, in the order the
 * request lists them, `epoch:seq` or `*` (none yet), joined by commas — e.g.
 * `kP3v9aZt:42,*,Qa8x:7`. SSE sends it as every event's `id:` (so `Last-Event-ID` carries all
 * positions), long-poll as `cursor`.
 */
export type Cursor = (Position | null)[];

const ENTRY = /^([A-Za-z0-9_-]{1,32}):(0|[1-9]\d{0,15})$/;

export function formatCursor(cursor: Cursor): string {
  return cursor.map((p) => (p && p.epoch ? `${p.epoch}:${p.seq}` : '*')).join(',');
}

/** Parses a cursor for `count` channels; throws `invalid_position` for anything else. */
export function parseCursor(raw: string, count: number): Cursor {
  const parts = raw.length <= 4096 ? raw.split(',') : [];
  if (parts.length !== count) {
    throw new TributaryError('invalid_position', `The position ${JSON.stringify(raw.slice(0, 80))} does not hold one entry per channel (${count}).`);
  }
  return parts.map((part) => {
    if (part === '*') return null;
    const m = ENTRY.exec(part);
    if (!m) throw new TributaryError('invalid_position', `${JSON.stringify(part.slice(0, 60))} is not a position (epoch:seq or *).`);
    return { epoch: m[1]!, seq: Number(m[2]) };
  });
}
