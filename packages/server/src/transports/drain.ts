import type { EventEmitter } from 'node:events';

/** Resolves on the writable's next 'drain', or when `closer` (the connection) closes first. */
export function nextDrain(writable: EventEmitter, closer: EventEmitter = writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      writable.off('drain', done);
      closer.off('close', done);
      resolve();
    };
    writable.on('drain', done);
    closer.on('close', done);
  });
}
