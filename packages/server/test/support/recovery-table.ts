import type { StartAt } from '../../src/streams/types.js';

/**
 * The recovery table: after events 1‥10 of a topic, each row is a start position and the answer
 * it must get. Every backend (stream-log.test.ts) and every transport (realtime-recovery.test.ts) passes it.
 */
export interface RecoveryRow {
  name: string;
  start: (epoch: string) => StartAt;
  opts?: { size?: number; maxReplay?: number };
  expect: { recovered: boolean; reason?: string; seqs?: number[] };
}

export const RECOVERY_TABLE: RecoveryRow[] = [
  { name: 'resume at the top', start: (epoch) => ({ from: 'position', position: { epoch, seq: 10 } }), expect: { recovered: true, seqs: [] } },
  { name: 'resume within history', start: (epoch) => ({ from: 'position', position: { epoch, seq: 7 } }), expect: { recovered: true, seqs: [8, 9, 10] } },
  { name: 'from the start while history is whole', start: () => ({ from: 'start' }), expect: { recovered: true, seqs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] } },
  { name: 'live only (top)', start: () => ({ from: 'top' }), expect: { recovered: true, seqs: [] } },
  {
    name: 'older than history',
    start: (epoch) => ({ from: 'position', position: { epoch, seq: 2 } }),
    opts: { size: 5 },
    expect: { recovered: false, reason: 'history_truncated' },
  },
  { name: 'from the start after truncation', start: () => ({ from: 'start' }), opts: { size: 5 }, expect: { recovered: false, reason: 'history_truncated' } },
  {
    name: 'exactly at the oldest kept event',
    start: (epoch) => ({ from: 'position', position: { epoch, seq: 5 } }),
    opts: { size: 5 },
    expect: { recovered: true, seqs: [6, 7, 8, 9, 10] },
  },
  { name: 'ahead of the top', start: (epoch) => ({ from: 'position', position: { epoch, seq: 11 } }), expect: { recovered: false, reason: 'ahead_of_top' } },
  { name: 'another epoch', start: () => ({ from: 'position', position: { epoch: 'gone', seq: 3 } }), expect: { recovered: false, reason: 'epoch_changed' } },
  {
    name: 'more missed than the replay limit',
    start: (epoch) => ({ from: 'position', position: { epoch, seq: 1 } }),
    opts: { maxReplay: 5 },
    expect: { recovered: false, reason: 'too_many_missed' },
  },
];
