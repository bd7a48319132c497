import type { LogEvent } from './types.js';

/**
 * Encodes each event once per publish, however many subscribers receive it: the hub hands
 * one event to all its subscribers in one synchronous loop, so remembering the last event
 * is enough — and, unlike a cache per retained event, costs no memory for history.
 */
export function encodeOnce<T>(encode: (event: LogEvent) => T): (event: LogEvent) => T {
  let last: LogEvent | undefined;
  let value: T;
  return (event) => {
    if (event !== last) {
      value = encode(event);
      last = event;
    }
    return value;
  };
}
