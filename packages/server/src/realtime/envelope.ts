import type { LogEvent } from '../streams/types.js';
import { encodeOnce } from '../streams/encode-once.js';

/** What every transport delivers for one channel event (WebSocket adds `"type":"pub"`). */
export interface Envelope {
  channel: string;
  epoch: string;
  seq: number;
  event: string;
  data: unknown;
  time: number;
}

export function envelopeOf(e: LogEvent): Envelope {
  return { channel: e.topic, epoch: e.epoch, seq: e.seq, event: e.type, data: e.data, time: e.time };
}

/** The envelope as JSON, once per event. */
export const envelopeJson = encodeOnce((e) => JSON.stringify(envelopeOf(e)));
