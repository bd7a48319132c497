import { describe, expect, it } from 'vitest';
import { WriteQueue } from '../src/store/write-queue.js';

/** A synchronous store (SQLite): `applySync` always takes the batch. */
function queue() {
  const batches: number[][] = [];
  const q = new WriteQueue<number>({
    apply: async () => {
      throw new Error('the synchronous path is always available here');
    },
    applySync: (batch) => {
      batches.push([...batch]);
      return true;
    },
    rowsOf: () => 1,
    flushIntervalMs: 60_000,
    batchSize: 100,
  });
  return { q, batches };
}

describe('WriteQueue.committed() with a synchronous apply', () => {
  it('each waiter commits on its own tick, however close behind the last commit', async () => {
    const { q, batches } = queue();
    q.push(1);
    const first = q.committed();
    expect(batches).toEqual([[1]]);
    q.push(2);
    q.push(3);
    const second = q.committed();
    expect(batches).toEqual([[1], [2, 3]]); // what was queued before it goes with it
    expect(q.pendingRows).toBe(0);
    await Promise.all([first, second]);
  });
});
