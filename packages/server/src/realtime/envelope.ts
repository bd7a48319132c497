import type { LogEvent } from '../streams/types.js';

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

/** Caches one encoding per event (and per encoder), so a publish is serialised once whatever the audience. */
export function perEvent<T>(encode: (event: LogEvent) => T): (event: LogEvent) => T {
  const cache = new WeakMap<LogEvent, T>();
  return (event) => {
    let value = cache.get(event);
    if (value === undefined) {
      value = encode(event);
      cache.set(event, value);
    }
    return value;
  };
}

/** The envelope as JSON, once per event. */
export const envelopeJson = perEvent((e) => JSON.stringify(envelopeOf(e)));
