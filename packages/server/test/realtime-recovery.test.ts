import { describe, expect, it } from 'vitest';
import type { Position, StartAt } from '../src/streams/types.js';
import { STREAM_BACKENDS } from './support/backends.js';
import { RECOVERY_TABLE } from './support/recovery-table.js';
import { poll, publish, publishN, RawWs, startRealtimeServer } from './support/realtime.js';
import { sseRequest } from './support/sse-client.js';

type Transport = 'websocket' | 'sse' | 'poll';
interface Outcome {
  /** Per channel: the recovery answer, and the seqs delivered (replay, then one live event each). */
  answers: Record<string, any>;
  seqs: Record<string, number[]>;
}

/** SSE and long-poll say "from the start" as position 0 of the current epoch. */
const positionOf = (start: StartAt, epoch: string): Position | null =>
  start.from === 'position' ? start.position : start.from === 'start' ? { epoch, seq: 0 } : null;
const cursorOf = (positions: (Position | null)[]) => positions.map((p) => (p ? `${p.epoch}:${p.seq}` : '*')).join(',');

/**
 * Subscribes `channels` from their starts over one connection of the transport, waits for every
 * recovery answer, publishes one live event per channel, and returns what arrived until then.
 */
async function resume(transport: Transport, url: string, channels: { name: string; start: StartAt; epoch: string }[]): Promise<Outcome> {
  const answers: Record<string, any> = {};
  const seqs: Record<string, number[]> = Object.fromEntries(channels.map((c) => [c.name, []]));
  // The live event follows the top each answer reported (it may arrive before the publish returns).
  const liveTops: Record<string, number> = {};
  const publishLive = async () => {
    for (const c of channels) liveTops[c.name] = answers[c.name].top.seq + 1;
    for (const c of channels) expect((await publish(url, { channel: c.name, data: { live: true } })).json.seq).toBe(liveTops[c.name]);
  };
  const allLive = () => channels.every((c) => seqs[c.name]!.includes(liveTops[c.name] ?? -1));

  if (transport === 'websocket') {
    const ws = await RawWs.native(url);
    channels.forEach((c, id) =>
      ws.send({
        type: 'subscribe',
        id,
        channel: c.name,
        ...(c.start.from === 'position' ? { position: c.start.position } : c.start.from === 'start' ? { from: 'start' } : {}),
      }),
    );
    for (const c of channels) answers[c.name] = await ws.next((m) => m.type === 'subscribed' && m.channel === c.name);
    await publishLive();
    await ws.until((m) => m.type === 'pub' && liveTops[m.channel] === m.seq, channels.length);
    for (const m of ws.messages) if (m.type === 'pub') seqs[m.channel]!.push(m.seq);
    ws.close();
  } else if (transport === 'sse') {
    const cursor = cursorOf(channels.map((c) => positionOf(c.start, c.epoch)));
    let published = false;
    const names = channels.map((c) => c.name).join(',');
    const result = await sseRequest(`${url}/v1/subscribe?channels=${encodeURIComponent(names)}`, {
      headers: cursor.split(',').every((p) => p === '*') ? {} : { 'Last-Event-ID': cursor },
      until: (m) => {
        if (m.event === 'recovery') answers[m.json.channel] = m.json;
        else seqs[m.json.channel]!.push(m.json.seq);
        if (!published && Object.keys(answers).length === channels.length) {
          published = true;
          void publishLive();
        }
        return published && allLive() ? 'stop' : undefined;
      },
    });
    expect(result.status).toBe(200);
  } else {
    const names = channels.map((c) => c.name).join(',');
    const positions = channels.map((c) => positionOf(c.start, c.epoch));
    const query = { channels: names, timeoutMs: '100', ...(positions.some((p) => p) ? { cursor: cursorOf(positions) } : {}) };
    const first = await poll(url, query);
    expect(first.status).toBe(200);
    for (const a of first.json.channels) answers[a.channel] = a;
    for (const e of first.json.events) seqs[e.channel]!.push(e.seq);
    let cursor = first.json.cursor;
    await publishLive();
    while (!allLive()) {
      const next = await poll(url, { channels: names, cursor, timeoutMs: '2000' });
      for (const e of next.json.events) seqs[e.channel]!.push(e.seq);
      cursor = next.json.cursor;
    }
  }
  return { answers, seqs };
}

const TRANSPORTS: Transport[] = ['websocket', 'sse', 'poll'];
const CASES = STREAM_BACKENDS.filter((b) => b.enabled).flatMap((backend) =>
  TRANSPORTS.map((transport) => ({ transport, backend: backend.name, redis: backend.redis })),
);

describe.each(CASES)('recovery table over $transport on the $backend backend', ({ transport, redis }) => {
  it.each(RECOVERY_TABLE)('$name', async ({ start, opts, expect: want }) => {
    const server = await startRealtimeServer({
      redis: redis(),
      streams: { history: { size: opts?.size ?? 100, ttlSeconds: 3_600 }, maxReplay: opts?.maxReplay ?? 1_000 },
    });
    try {
      const epoch = await publishN(server.url, 'public:t', 10);
      const { answers, seqs } = await resume(transport, server.url, [{ name: 'public:t', start: start(epoch), epoch }]);
      const answer = answers['public:t'];
      expect(answer.recovered).toBe(want.recovered);
      expect(answer.top).toEqual({ epoch, seq: 10 });
      if (want.recovered) {
        expect(answer.replayed).toBe(want.seqs!.length);
        expect(seqs['public:t']).toEqual([...want.seqs!, 11]);
      } else {
        expect(answer.reason).toBe(want.reason);
        expect(seqs['public:t']).toEqual([11]); // nothing replayed, then live from the top
      }
    } finally {
      await server.close();
    }
  });

  it('recovers two channels on one connection independently', async () => {
    const server = await startRealtimeServer({ redis: redis(), streams: { history: { size: 5, ttlSeconds: 3_600 } } });
    try {
      const a = await publishN(server.url, 'public:a', 10);
      const b = await publishN(server.url, 'public:b', 10);
      const c = await publishN(server.url, 'public:c', 3);
      const { answers, seqs } = await resume(transport, server.url, [
        { name: 'public:a', start: { from: 'position', position: { epoch: a, seq: 7 } }, epoch: a },
        { name: 'public:b', start: { from: 'position', position: { epoch: b, seq: 2 } }, epoch: b },
        { name: 'public:c', start: { from: 'position', position: { epoch: 'other', seq: 1 } }, epoch: c },
      ]);
      expect(answers['public:a']).toMatchObject({ recovered: true, replayed: 3 });
      expect(answers['public:b']).toMatchObject({ recovered: false, reason: 'history_truncated', top: { epoch: b, seq: 10 } });
      expect(answers['public:c']).toMatchObject({ recovered: false, reason: 'epoch_changed', top: { epoch: c, seq: 3 } });
      expect(seqs).toEqual({ 'public:a': [8, 9, 10, 11], 'public:b': [11], 'public:c': [4] });
    } finally {
      await server.close();
    }
  });
});
