import { describe, expect, it } from 'vitest';
import { WriteQueue } from '../src/store/write-queue.js';

/** The group commit of a synchronous store (SQLite): alone at once, in a burst together. */
function queue(syncCommitGapMs: number) {
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
    syncCommitGapMs,
  });
  return { q, batches };
}

describe('WriteQueue.committed() with a synchronous apply', () => {
  it('a lone waiter commits on its own tick', async () => {
    const { q, batches } = queue(0);
    q.push(1);
    const first = q.committed();
    expect(batches).toEqual([[1]]);
    q.push(2);
    const second = q.committed();
    expect(batches).toEqual([[1], [2]]); // no gap asked for: each commits at once
    await Promise.all([first, second]);
  });

  it('waiters close behind a commit share the next turn’s batch, and each is resolved only after it', async () => {
    const { q, batches } = queue(60_000);
    q.push(1);
    await q.committed(); // the first in a while: at once
    expect(batches).toEqual([[1]]);
    const resolved: number[] = [];
    q.push(2);
    const second = q.committed().then(() => resolved.push(2));
    q.push(3);
    const third = q.committed().then(() => resolved.push(3));
    expect(batches).toEqual([[1]]); // not yet: they wait for the next turn
    expect(q.pendingRows).toBe(2);
    await Promise.all([second, third]);
    expect(batches).toEqual([[1], [2, 3]]);
    expect(resolved).toEqual([2, 3]);
    expect(q.pendingRows).toBe(0);
  });
});
