import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchema, postgresAvailable, randomSchema } from './support/postgres.js';
import { startServer, type TestServer } from './support/server.js';
import { sseRequest, type TimedMessage } from './support/sse-client.js';
import { allItems, createJob, FAST_JOBS, json, prompts, waitForJob } from './support/jobs.js';
import { TEST_DATABASE_URL } from './support/postgres.js';
import { RawWs, TOKEN_SECRET } from './support/realtime.js';

const hasPostgres = await postgresAvailable();
const MODELS = ['demo/fast', 'demo/balanced', 'demo/verbose'];

describe.each([{ db: 'sqlite' as const }, { db: 'postgres' as const }])('batch jobs on $db', ({ db }) => {
  let server: TestServer;
  const schema = randomSchema();
  beforeAll(async () => {
    if (db === 'postgres' && !hasPostgres) return;
    server = await startServer({
      jobs: { ...FAST_JOBS, perJobConcurrency: 12 },
      demo: { speed: 400 },
      realtime: { tokenSecret: TOKEN_SECRET },
      ...(db === 'postgres' ? { database: { url: TEST_DATABASE_URL, schema } } : {}),
    });
  });
  afterAll(async () => {
    await server?.close();
    if (db === 'postgres' && hasPostgres) await dropSchema(schema);
  });
  const skip = () => db === 'postgres' && !hasPostgres;

  it('runs 50 prompts × 3 models to success; progress is monotonic and resumes mid-way with Last-Event-ID', async () => {
    if (skip()) return;
    const created = await createJob(server.url, { name: 'fifty', prompts: prompts(50), models: MODELS, concurrency: 6 });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ status: 'queued', total: 150, streamUrl: `/v1/jobs/${created.json.id}/stream` });
    const { id } = created.json;

    // First connection: cut after some items, like a network drop.
    const first = await sseRequest(`${server.url}${created.json.streamUrl}`, {
      until: (_m, all) => (all.filter((x) => x.event === 'job.item').length >= 30 ? 'drop' : undefined),
    });
    expect(first.messages[0]!.event).toBe('job.snapshot');
    const lastId = [...first.messages].reverse().find((m) => m.id)!.id!;
    const second = await sseRequest(`${server.url}${created.json.streamUrl}`, { headers: { 'Last-Event-ID': lastId } });
    expect(second.messages[0]!.event).toBe('recovery');
    expect(second.messages[0]!.json.recovered).toBe(true);
    expect(second.ended).toBe(true);
    const events: TimedMessage[] = [...first.messages, ...second.messages].filter((m) => m.id);
    // No event twice, none missing: seqs are consecutive across the two connections.
    const seqs = events.map((m) => Number(m.id!.split(':').at(-1)));
    const startSeq = seqs[0]!;
    expect(seqs).toEqual(seqs.map((_, i) => startSeq + i));
    const itemsSeen = events.filter((m) => m.event === 'job.item');
    const snapshot = first.messages[0]!.json;
    expect(new Set(itemsSeen.map((m) => m.json.id)).size + snapshot.counts.succeeded + snapshot.counts.failed).toBeGreaterThanOrEqual(150);
    const progress = events.filter((m) => m.event === 'job.progress').map((m) => m.json);
    expect(progress.length).toBeGreaterThan(1);
    for (let i = 1; i < progress.length; i++) {
      expect(progress[i].completed + progress[i].failed).toBeGreaterThanOrEqual(progress[i - 1].completed + progress[i - 1].failed);
      expect(progress[i].percent).toBeGreaterThanOrEqual(progress[i - 1].percent);
    }
    expect(progress.at(-1)).toMatchObject({ completed: 150, failed: 0, total: 150, percent: 100, etaMs: 0 });
    const done = events.at(-1)!;
    expect(done.event).toBe('job.done');
    expect(done.json.status).toBe('succeeded');

    const job = await waitForJob(server.url, id);
    const items = await allItems(server.url, id);
    expect(items).toHaveLength(150);
    expect(new Set(items.map((i) => `${i.promptIndex}/${i.model}`)).size).toBe(150);
    expect(done.json.counts).toEqual(job.counts);
    expect(job.counts).toEqual({ queued: 0, running: 0, succeeded: 150, failed: 0, cancelled: 0 });
    for (const item of items) {
      expect(item.status).toBe('succeeded');
      expect(item.text.length).toBeGreaterThan(0);
      expect(item.ttftMs).toBeTypeOf('number');
      expect(item.outputTokens).toBeGreaterThan(0);
    }
    expect(job.summary.map((s: any) => s.model)).toEqual(MODELS);
    for (const s of job.summary) {
      expect(s).toMatchObject({ finished: 50, succeeded: 50, failed: 0, successRate: 1, costUsd: null });
      // The database's aggregates agree with the items: mean and nearest-rank p95 of TTFT, token sums.
      const mine = items.filter((i) => i.model === s.model);
      const ttfts = mine.map((i) => i.ttftMs).sort((a, b) => a - b);
      expect(s.meanTtftMs).toBe(Math.round(ttfts.reduce((a, b) => a + b, 0) / ttfts.length));
      expect(s.p95TtftMs).toBe(ttfts[Math.ceil(ttfts.length * 0.95) - 1]);
      expect(s.outputTokens).toBe(mine.reduce((a, i) => a + i.outputTokens, 0));
      expect(s.tokensPerSecond).toBeGreaterThan(0);
    }
    expect(job.progress).toMatchObject({ percent: 100, etaMs: 0 });

    // A finished job streamed from scratch: its snapshot, then job.done, then the end.
    const late = await sseRequest(`${server.url}${created.json.streamUrl}`);
    expect(late.messages.map((m) => m.event)).toEqual(['job.snapshot', 'job.done']);
    // The client that holds job.done gets 204 (EventSource stops reconnecting).
    const again = await fetch(`${server.url}${created.json.streamUrl}`, { headers: { 'Last-Event-ID': done.id! } });
    expect(again.status).toBe(204);

    // Listing, filtered by state, paged.
    const list = await json(await fetch(`${server.url}/v1/jobs?status=succeeded&limit=1`));
    expect(list.jobs[0]).toMatchObject({ id, status: 'succeeded', progress: { percent: 100 } });
    const none = await json(await fetch(`${server.url}/v1/jobs?status=running`));
    expect(none.jobs.find((j: any) => j.id === id)).toBeUndefined();

    // Export: every item, as JSONL and as CSV.
    const jsonl = await fetch(`${server.url}/v1/jobs/${id}/results?format=jsonl`);
    expect(jsonl.headers.get('content-type')).toContain('application/x-ndjson');
    const lines = (await jsonl.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(150);
    expect(lines[0]).toMatchObject({ prompt_index: 0, status: 'succeeded' });
    const csv = await fetch(`${server.url}/v1/jobs/${id}/results?format=csv`);
    expect(csv.headers.get('content-disposition')).toContain(`${id}.csv`);
    const csvText = await csv.text();
    expect(csvText.split('\r\n')[0]).toMatch(/^prompt_index,prompt_id,prompt,model,status/);
  });

  it('retry re-runs exactly the items demo/flaky failed; the others keep their text and timestamps', async () => {
    if (skip()) return;
    const created = await createJob(server.url, { prompts: prompts(12, 'flaky'), models: ['demo/flaky', 'demo/fast'] });
    const { id } = created.json;
    const job = await waitForJob(server.url, id);
    expect(job.status).toBe('failed');
    const before = await allItems(server.url, id);
    const failed = before.filter((i) => i.status === 'failed');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((i) => i.model === 'demo/flaky')).toBe(true);
    for (const f of failed) {
      expect(['rate_limited', 'upstream_error']).toContain(f.error.code);
      expect(f.error.suggestedAction).toBeTruthy();
    }
    const flakySummary = job.summary.find((s: any) => s.model === 'demo/flaky');
    expect(flakySummary.successRate).toBeLessThan(1);

    // Only ended jobs retry; succeeded items cannot be "retried".
    const retry = await fetch(`${server.url}/v1/jobs/${id}/retry`, { method: 'POST' });
    expect(retry.status).toBe(202);
    expect(await retry.json()).toMatchObject({ id, status: 'queued', retried: failed.length });
    await waitForJob(server.url, id);
    const after = await allItems(server.url, id);
    const byKey = new Map(after.map((i) => [i.id, i]));
    for (const b of before) {
      const a = byKey.get(b.id)!;
      if (b.status === 'failed') {
        expect(a.attempts).toBe(1); // run again (attempts restart per run) …
        expect(a.finishedAt).not.toBe(b.finishedAt); // … with a new finish time
      } else {
        expect(a).toEqual(b); // text, timestamps, everything untouched
      }
    }
    const nothing = await fetch(`${server.url}/v1/jobs/${id}/retry?include=cancelled`, { method: 'POST' });
    // The flaky failures are deterministic: they fail again, so there is still something to retry.
    expect(nothing.status).toBe(202);
    await waitForJob(server.url, id);
  });

  it('the job topic is readable over the realtime hub (WebSocket, channel job:<id>)', async () => {
    if (skip()) return;
    const created = await createJob(server.url, { prompts: prompts(3, 'ws'), models: ['demo/slow'] });
    await waitForJob(server.url, created.json.id);
    const channel = `job:${created.json.id}`;
    const ws = await RawWs.native(server.url);
    try {
      ws.send({ type: 'subscribe', id: 1, channel, from: 'start' });
      const subscribed = await ws.next((m) => m.type === 'subscribed' || m.type === 'error');
      expect(subscribed).toMatchObject({ type: 'subscribed', recovered: true });
      const pubs = await ws.until((m) => m.type === 'pub' && m.data?.status === 'succeeded' && m.data?.counts, 1);
      const all = ws.messages.filter((m) => m.type === 'pub');
      expect(all.filter((m) => m.data.promptIndex !== undefined)).toHaveLength(3);
      expect(pubs[0].channel).toBe(channel);
    } finally {
      ws.close();
    }
  });

  it("a user's job is invisible to other users and to anonymous callers: get, items, results, stream, cancel and retry answer job_not_found", async () => {
    if (skip()) return;
    const signUp = async (email: string) => {
      const res = await fetch(`${server.url}/v1/auth/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email, password: 'a long enough password' }),
      });
      expect(res.status).toBe(201);
      return { Authorization: `Bearer ${(await json(res)).accessToken}` };
    };
    const alice = await signUp(`alice-${Date.now()}@example.test`);
    const bob = await signUp(`bob-${Date.now()}@example.test`);
    const created = await fetch(`${server.url}/v1/jobs`, {
      method: 'POST',
      headers: { ...alice, 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompts: ['mine'], models: ['demo/fast'], tier: 'brief' }),
    });
    expect(created.status).toBe(201);
    const { id } = await json(created);
    for (const who of [bob, {}]) {
      for (const [method, path] of [
        ['GET', ''],
        ['GET', '/items'],
        ['GET', '/results'],
        ['GET', '/stream'],
        ['POST', '/cancel'],
        ['DELETE', ''],
        ['POST', '/retry'],
      ] as const) {
        const res = await fetch(`${server.url}/v1/jobs/${id}${path}`, { method, headers: who });
        expect({ path, method, status: res.status, code: (await json(res)).code }).toEqual({ path, method, status: 404, code: 'job_not_found' });
      }
      const list = await json(await fetch(`${server.url}/v1/jobs?limit=200`, { headers: who }));
      expect(list.jobs.some((j: any) => j.id === id)).toBe(false);
    }
    const mine = await fetch(`${server.url}/v1/jobs/${id}`, { headers: alice });
    expect(mine.status).toBe(200);
    expect((await json(await fetch(`${server.url}/v1/jobs?limit=200`, { headers: alice }))).jobs.map((j: any) => j.id)).toEqual([id]);
    const forged = await fetch(`${server.url}/v1/jobs/${id}`, { headers: { Authorization: 'Bearer not-a-token' } });
    expect(forged.status).toBe(401);
  });

  it("the realtime channel job:<id> of a user's job is its owner's alone: others are refused channel_forbidden over WebSocket and SSE, whatever their token claims", async () => {
    if (skip()) return;
    const signUp = async (email: string): Promise<string> => {
      const res = await fetch(`${server.url}/v1/auth/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email, password: 'a long enough password' }),
      });
      expect(res.status).toBe(201);
      return (await json(res)).accessToken;
    };
    const alice = await signUp(`alice-rt-${Date.now()}@example.test`);
    const bob = await signUp(`bob-rt-${Date.now()}@example.test`);
    const created = await fetch(`${server.url}/v1/jobs`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${alice}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompts: ['mine', 'also mine'], models: ['demo/fast'], tier: 'brief' }),
    });
    expect(created.status).toBe(201);
    const { id } = await json(created);
    const channel = `job:${id}`;
    // Bob's own connection token, claiming every job channel: a claim narrows, never grants.
    const minted = await fetch(`${server.url}/v1/tokens/connection`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${bob}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ channels: ['job:*', channel] }),
    });
    expect(minted.status).toBe(200);
    const bobClaims = (await json(minted)).token as string;

    const overWs = async (token: string | undefined) => {
      const ws = await RawWs.native(server.url, token);
      try {
        ws.send({ type: 'subscribe', id: 1, channel, from: 'start' });
        const answer = await ws.next((m) => m.type === 'subscribed' || m.type === 'error');
        if (answer.type === 'subscribed') await ws.until((m) => m.type === 'pub' && m.data?.counts, 1, 20_000); // job.done
        return { answer, pubs: ws.messages.filter((m) => m.type === 'pub').length };
      } finally {
        ws.close();
      }
    };
    for (const token of [undefined, bob, bobClaims]) {
      const { answer, pubs } = await overWs(token);
      expect(answer).toMatchObject({ type: 'error', code: 'channel_forbidden', id: 1, channel });
      expect(pubs).toBe(0);
    }
    const owner = await overWs(alice);
    expect(owner.answer).toMatchObject({ type: 'subscribed', channel });
    expect(owner.pubs).toBeGreaterThanOrEqual(3); // two job.item, job.progress, job.done

    const overSse = (token?: string) =>
      sseRequest(`${server.url}/v1/subscribe?channels=${encodeURIComponent(channel)}${token ? `&access_token=${encodeURIComponent(token)}` : ''}`, {
        until: () => 'stop',
      });
    for (const token of [undefined, bob, bobClaims]) {
      const refused = await overSse(token);
      expect({ status: refused.status, code: JSON.parse(refused.raw).code }).toEqual({ status: 403, code: 'channel_forbidden' });
    }
    const allowed = await overSse(alice);
    expect(allowed.status).toBe(200);
    expect(allowed.messages[0]).toMatchObject({ event: 'recovery' });
    expect(allowed.messages[0]!.json.channel).toBe(channel);
    // A job that does not exist is refused the same way (nothing tells it from another user's).
    const missing = await sseRequest(`${server.url}/v1/subscribe?channels=job:job_nope&access_token=${encodeURIComponent(alice)}`, { until: () => 'stop' });
    expect({ status: missing.status, code: JSON.parse(missing.raw).code }).toEqual({ status: 403, code: 'channel_forbidden' });
  });

  it('answers precise errors: unknown job, bad cursor, unknown model, too long, wrong type, running retry', async () => {
    if (skip()) return;
    const missing = await fetch(`${server.url}/v1/jobs/job_nope`);
    expect(missing.status).toBe(404);
    expect((await missing.json()).code).toBe('job_not_found');
    expect((await createJob(server.url, { prompts: ['a'], models: ['demo/nope'] })).json.code).toBe('invalid_model');
    expect((await createJob(server.url, { prompts: [], models: ['demo/fast'] })).json.code).toBe('invalid_field');
    expect((await createJob(server.url, { prompts: ['  '], models: ['demo/fast'] })).json.code).toBe('empty_prompt');
    expect((await createJob(server.url, { prompts: ['x'.repeat(2_000)], models: ['demo/fast'], tier: 'brief' })).json).toMatchObject({
      code: 'input_too_long',
      index: 0,
    });
    expect((await createJob(server.url, { prompts: ['a'], models: ['demo/fast'], extra: 1 })).json.code).toBe('unknown_field');
    const text = await fetch(`${server.url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(text.status).toBe(415);
    expect((await text.json()).code).toBe('unsupported_media_type');
    const created = await createJob(server.url, { prompts: [{ id: 'one', prompt: 'a', system: 'be brief' }], models: ['demo/slow'] });
    const badCursor = await fetch(`${server.url}/v1/jobs/${created.json.id}/items?cursor=zzz`);
    expect((await badCursor.json()).code).toBe('invalid_cursor');
    const early = await fetch(`${server.url}/v1/jobs/${created.json.id}/retry`, { method: 'POST' });
    expect(early.status).toBe(409);
    expect((await early.json()).code).toBe('job_running');
    await waitForJob(server.url, created.json.id);
    const [item] = await allItems(server.url, created.json.id);
    expect(item).toMatchObject({ promptId: 'one', system: 'be brief', status: 'succeeded' });
    const nothing = await fetch(`${server.url}/v1/jobs/${created.json.id}/retry`, { method: 'POST' });
    expect((await nothing.json()).code).toBe('nothing_to_retry');
  });
});
