import type { Readable } from 'node:stream';

/** Reads queued while the consumer is busy before the body is paused (backpressure to the upstream socket). */
const HIGH_WATER = 16;

/**
 * A response body read in flowing mode, one `next()` per wait. Readable's own async iterator
 * costs a next-tick `readable` event, a `read()` and a buffer list per chunk, which a relay pays
 * once per token of every stream; here a chunk reaches a waiting consumer from the socket's
 * `data` event. Chunks that arrived while the consumer was busy leave as one buffer (one parse,
 * one write downstream). An error, or a close before the end, rejects the waiting read.
 */
export class BodyReader implements AsyncIterator<Buffer, undefined> {
  private readonly queue: Buffer[] = [];
  private ended = false;
  private failure: unknown;
  private waiting: { resolve: (r: IteratorResult<Buffer, undefined>) => void; reject: (err: unknown) => void } | undefined;

  constructor(private readonly body: Readable) {
    body.on('data', (chunk: Buffer) => {
      const w = this.waiting;
      if (w) {
        this.waiting = undefined;
        w.resolve({ done: false, value: chunk });
        return;
      }
      if (this.queue.push(chunk) >= HIGH_WATER) body.pause();
    });
    body.once('end', () => {
      this.ended = true;
      this.settle();
    });
    body.once('error', (err) => this.fail(err));
    body.once('close', () => {
      if (!this.ended) this.fail(Object.assign(new Error('The response body closed before its end.'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    });
  }

  next(): Promise<IteratorResult<Buffer, undefined>> {
    const { queue } = this;
    if (queue.length > 0) {
      const value = queue.length === 1 ? queue[0]! : Buffer.concat(queue);
      queue.length = 0;
      if (this.body.isPaused() && !this.ended) this.body.resume();
      return Promise.resolve({ done: false, value });
    }
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  /** Stops reading: the body is destroyed (its socket is not reused). */
  return(): Promise<IteratorResult<Buffer, undefined>> {
    this.ended = true;
    this.body.destroy();
    this.settle();
    return Promise.resolve({ done: true, value: undefined });
  }

  private fail(err: unknown): void {
    this.failure ??= err ?? new Error('The response body failed.');
    this.settle();
  }

  private settle(): void {
    const w = this.waiting;
    if (!w) return;
    this.waiting = undefined;
    if (this.failure !== undefined) w.reject(this.failure);
    else w.resolve({ done: true, value: undefined });
  }
}
