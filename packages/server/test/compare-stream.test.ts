import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './support/server.js';
import { sseRequest, type TimedMessage } from './support/sse-client.js';

const PROMPT = 'Explain concurrency in one short paragraph.';
const MODELS = ['demo/fast', 'demo/balanced', 'demo/slow'];

/** Text per model from seed-format frames. */
function textByModel(messages: TimedMessage[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of messages) if (m.json?.type === 'chunk') out[m.json.model] = (out[m.json.model] ?? '') + m.json.content;
  return out;
}

describe('POST /compare-stream: concurrent models (seed 001 verdict)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ demo: { speed: 2 } });
  });
  afterAll(() => server.close());

  it('starts every model together, interleaves chunks, and takes as long as the slowest model alone', async () => {
    const all = await sseRequest(`${server.url}/compare-stream`, { body: { input_data: PROMPT, models: MODELS, tier: 'standard' } });
    expect(all.status).toBe(200);
    expect(all.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(all.headers['cache-control']).toContain('no-cache');
    expect(all.headers['x-accel-buffering']).toBe('no');
    expect(all.headers['x-comparison-id']).toMatch(/^cmp_/);
    expect(all.headers['content-encoding'] ?? 'identity').toBe('identity');
    expect(all.ended).toBe(true);
    // Seed framing: a data frame that is one `data:` line, then its position frame; `retry:` on the first.
    const [firstData, firstPosition] = all.raw.split('\n\n');
    expect(firstData).toMatch(/^data: \{[^\n]*\}$/);
    expect(firstPosition).toMatch(/^event: position\nid: comparison:cmp_[^\n]+\ndata: \{"type":"position"\}\nretry: \d+$/);

    const frames = all.messages;
    expect(frames[0]!.json).toMatchObject({ type: 'comparison', comparison_id: all.headers['x-comparison-id'] });
    expect(frames.at(-1)!.json).toMatchObject({ type: 'complete', metadata: { models_requested: 3, models_successful: 3, models_failed: 0 } });
    expect(frames.every((m) => m.id)).toBe(true);

    const start: Record<string, number> = {};
    const first: Record<string, number> = {};
    const done: Record<string, number> = {};
    for (const m of frames) {
      const { type, model } = m.json;
      if (type === 'start') start[model] = m.t;
      if (type === 'chunk') first[model] ??= m.t;
      if (type === 'done') done[model] = m.t;
    }
    const spread = (o: Record<string, number>) => Math.max(...Object.values(o)) - Math.min(...Object.values(o));
    expect(Object.keys(start)).toHaveLength(3);
    expect(spread(start)).toBeLessThan(50);
    expect(Math.max(...Object.values(first))).toBeLessThan(Math.min(...Object.values(done)));
    // interleaved: the chunk sequence switches model many times
    const order = frames.filter((m) => m.json.type === 'chunk').map((m) => m.json.model as string);
    const switches = order.filter((m, i) => i > 0 && m !== order[i - 1]).length;
    expect(switches).toBeGreaterThan(10);
    expect(new Set(order.slice(0, 20)).size).toBeGreaterThan(1); // the seed's "models in the first 20 chunks"

    const solo = () => sseRequest(`${server.url}/compare-stream`, { body: { input_data: PROMPT, models: ['demo/slow'], tier: 'standard' } });
    const alone = await solo();
    expect(textByModel(alone.messages)['demo/slow']).toBe(textByModel(frames)['demo/slow']);

    // Total ≈ the slowest model alone, not the sum. Measured pairwise in this test; on a shared
    // machine one pair can catch a stall, so up to three pairs are measured and the best counts.
    const overheads = [frames.at(-1)!.t - alone.messages.at(-1)!.t];
    while (Math.min(...overheads) >= 100 && overheads.length < 3) {
      const together = await sseRequest(`${server.url}/compare-stream`, { body: { input_data: PROMPT, models: MODELS, tier: 'standard' } });
      const slow = await solo();
      overheads.push(together.messages.at(-1)!.t - slow.messages.at(-1)!.t);
    }
    expect(Math.min(...overheads), `total − slowest alone per attempt: ${overheads.map((o) => o.toFixed(1)).join(', ')} ms`).toBeLessThan(100);
  });
});

describe('resume after a dropped connection', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ demo: { speed: 8 } });
  });
  afterAll(() => server.close());

  async function uninterrupted(models: string[]) {
    const r = await sseRequest(`${server.url}/compare-stream`, { body: { input_data: PROMPT, models } });
    return textByModel(r.messages);
  }

  const resumeForms = [
    {
      name: 'POST /compare-stream with the Last-Event-ID header',
      resume: (url: string, _id: string, last: string) =>
        sseRequest(`${url}/compare-stream`, { body: { input_data: PROMPT, models: MODELS }, headers: { 'Last-Event-ID': last } }),
    },
    {
      name: 'POST /compare-stream with ?lastEventId=',
      resume: (url: string, _id: string, last: string) =>
        sseRequest(`${url}/compare-stream?lastEventId=${encodeURIComponent(last)}`, { body: { input_data: PROMPT, models: MODELS } }),
    },
    {
      name: 'GET /v1/comparisons/{id}/stream with the header',
      resume: (url: string, id: string, last: string) => sseRequest(`${url}/v1/comparisons/${id}/stream`, { headers: { 'Last-Event-ID': last } }),
    },
    {
      name: 'GET /v1/comparisons/{id}/stream with ?lastEventId=',
      resume: (url: string, id: string, last: string) => sseRequest(`${url}/v1/comparisons/${id}/stream?lastEventId=${encodeURIComponent(last)}`),
    },
  ];

  it.each(resumeForms)('$name: same text as an uninterrupted run, no duplicates, no gaps', async ({ resume }) => {
    const first = await sseRequest(`${server.url}/compare-stream`, {
      body: { input_data: PROMPT, models: MODELS },
      until: (_m, all) => (all.filter((x) => x.json?.type === 'chunk' || x.json?.type === 'model.delta').length >= 25 ? 'drop' : undefined),
    });
    expect(first.ended).toBe(false);
    const id = first.headers['x-comparison-id'] as string;
    const last = first.messages.at(-1)!.id!;
    const second = await resume(server.url, id, last);
    expect(second.status).toBe(200);
    expect(second.ended).toBe(true);

    const ids = [...first.messages, ...second.messages].map((m) => m.id).filter(Boolean) as string[];
    expect(new Set(ids).size).toBe(ids.length);
    const seqs = ids.map((i) => Number(i.split(':').at(-1)));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    const recovery = second.messages.find((m) => m.event === 'recovery' || m.json?.type === 'recovery')!;
    expect(recovery.json).toMatchObject({ recovered: true });

    const native = second.messages.some((m) => m.event === 'model.delta');
    const merged: Record<string, string> = textByModel(first.messages);
    for (const m of second.messages) {
      const d = m.json;
      if (!native && d?.type === 'chunk') merged[d.model] = (merged[d.model] ?? '') + d.content;
      if (native && m.event === 'model.delta') merged[d.model] = (merged[d.model] ?? '') + d.text;
    }
    expect(merged).toEqual(await uninterrupted(MODELS));
    const stored = await (await fetch(`${server.url}/v1/comparisons/${id}`)).json();
    expect(Object.fromEntries(stored.models.map((m: any) => [m.model, m.text]))).toEqual(merged);
  });

  it('replays a finished comparison from history, and answers 204 to a client that already has its end', async () => {
    const run = await sseRequest(`${server.url}/compare-stream`, { body: { input_data: PROMPT, models: ['demo/fast'] } });
    const id = run.headers['x-comparison-id'] as string;
    const replay = await sseRequest(`${server.url}/v1/comparisons/${id}/stream`);
    expect(replay.messages.map((m) => m.id)).toEqual(run.messages.map((m) => m.id));
    expect(replay.messages.at(-1)!.event).toBe('comparison.done');
    const fromMiddle = await sseRequest(`${server.url}/v1/comparisons/${id}/stream`, { headers: { 'Last-Event-ID': run.messages[5]!.id! } });
    expect(fromMiddle.messages.filter((m) => m.id).map((m) => m.id)).toEqual(run.messages.slice(6).map((m) => m.id));
    const atEnd = await fetch(`${server.url}/v1/comparisons/${id}/stream`, { headers: { 'Last-Event-ID': run.messages.at(-1)!.id! } });
    expect(atEnd.status).toBe(204);
  });

  it('answers recovered:false with the state so far when the epoch is another one', async () => {
    const first = await sseRequest(`${server.url}/compare-stream`, {
      body: { input_data: PROMPT, models: MODELS },
      until: (_m, all) => (all.length >= 10 ? 'drop' : undefined),
    });
    const id = first.headers['x-comparison-id'] as string;
    const [, , seq] = first.messages.at(-1)!.id!.split(':').slice(-3);
    const forged = `comparison:${id}:otherEpoch:${seq}`;
    const second = await sseRequest(`${server.url}/v1/comparisons/${id}/stream`, { headers: { 'Last-Event-ID': forged } });
    const recovery = second.messages.find((m) => m.event === 'recovery')!;
    expect(recovery.json).toMatchObject({ recovered: false, reason: 'epoch_changed', snapshot: { id } });
    expect(recovery.json.snapshot.models).toHaveLength(3);
    // then live events continue to the end
    expect(second.messages.at(-1)!.event).toBe('comparison.done');
  });

  it('refuses a malformed Last-Event-ID and one that names another comparison', async () => {
    const bad = await fetch(`${server.url}/v1/comparisons/cmp_x/stream`, { headers: { 'Last-Event-ID': 'garbage' } });
    expect(bad.status).toBe(400);
    expect((await bad.json()).code).toBe('invalid_last_event_id');
    const other = await fetch(`${server.url}/v1/comparisons/cmp_x/stream`, { headers: { 'Last-Event-ID': 'comparison:cmp_y:abc:3' } });
    expect(other.status).toBe(400);
    const unknown = await fetch(`${server.url}/v1/comparisons/cmp_nope/stream`);
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).code).toBe('comparison_not_found');
  });
});

describe('resume from a position no longer in history', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ demo: { speed: 8 }, streams: { history: { size: 20, ttlSeconds: 600 } } });
  });
  afterAll(() => server.close());

  it('gets recovered:false with the stored state, never a silent gap', async () => {
    const run = await sseRequest(`${server.url}/compare-stream`, { body: { input_data: PROMPT, models: ['demo/fast'] } });
    const id = run.headers['x-comparison-id'] as string;
    const resumed = await sseRequest(`${server.url}/compare-stream`, {
      body: { input_data: PROMPT, models: ['demo/fast'] },
      headers: { 'Last-Event-ID': run.messages[2]!.id! },
    });
    expect(resumed.messages).toHaveLength(1);
    expect(resumed.messages[0]!.json).toMatchObject({ type: 'recovery', recovered: false, reason: 'history_truncated' });
    expect(resumed.messages[0]!.json.snapshot.models[0].text).toBe(textByModel(run.messages)['demo/fast']);
  });
});
