import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoFailureMode } from '../src/llm/demo-provider.js';
import { OpsMetrics } from '../src/ops/metrics.js';
import { OPS_TOPIC, type OpsSnapshot } from '../src/ops/snapshot.js';
import { createJob, FAST_JOBS, getJob } from './support/jobs.js';
import { dropSchema, postgresAvailable, randomSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { Scrape } from './support/prometheus.js';
import { metrics as realtimeMetrics, publish, RawWs, startRealtimeServer } from './support/realtime.js';
import { startServer, type TestServer } from './support/server.js';

const demo = {
  speed: 1,
  models: {
    'demo/tiny': { name: 'Tiny', firstTokenMs: 0, tokensPerSecond: 2_000, answerTokens: 8 },
    'demo/flaky': { name: 'Flaky', firstTokenMs: 0, tokensPerSecond: 2_000, answerTokens: 8, flaky: true },
  },
};

interface Result {
  model: string;
  status: string;
  errorCode?: string;
  outputTokens?: number;
  inputTokens?: number;
}

describe('/metrics after a scripted run', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startRealtimeServer({ demo, streams: { subscriberBufferBytes: 64 * 1024 } });
  });
  afterAll(() => server.close());

  it('shows exact counters for comparisons, a failing model, reconnects, connections and a slow consumer', async () => {
    const { url } = server;
    // Comparisons: a steady model and a flaky one (it fails before or mid-stream for some prompts), plus an unknown model.
    const results: Result[] = [];
    for (const [i, prompt] of scriptedPrompts().entries()) {
      const res = await fetch(`${url}/compare`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ input_data: prompt, models: i === 0 ? ['demo/tiny', 'demo/flaky', 'nowhere/model'] : ['demo/tiny', 'demo/flaky'] }),
      });
      expect(res.status).toBe(200);
      const { comparison_id: id } = (await res.json()) as { comparison_id: string };
      await server.app.ctx.store.flush();
      const snap = (await (await fetch(`${url}/v1/comparisons/${id}`)).json()) as { models: { result: Result }[] };
      results.push(...snap.models.map((m) => m.result));
    }
    const flaky = results.filter((r) => r.model === 'demo/flaky');
    const failedCodes = flaky.filter((r) => r.status === 'failed').map((r) => r.errorCode);
    expect(failedCodes.length).toBeGreaterThan(0); // the scripted prompts include failures
    expect(flaky.some((r) => r.status === 'failed' && (r.outputTokens ?? 0) > 0)).toBe(true); // one mid-stream

    // Reconnects: one resume recovered, one not (unknown epoch); and a connection refused at connect.
    const batch = await publish(url, { events: [1, 2, 3].map((i) => ({ channel: 'public:m', data: { i } })) });
    let publishedEvents = 3;
    const first = await RawWs.native(url);
    first.send({ type: 'subscribe', channel: 'public:m', position: { epoch: batch.json.results[0].epoch, seq: 1 } });
    expect((await first.next((m) => m.type === 'subscribed')).recovered).toBe(true);
    first.send({ type: 'subscribe', channel: 'public:n', position: { epoch: 'gone', seq: 5 } });
    expect((await first.next((m) => m.type === 'subscribed' && m.channel === 'public:n')).recovered).toBe(false);
    const refused = await RawWs.open(`${url.replace(/^http/, 'ws')}/v1/ws`);
    refused.send({ type: 'connect', version: 1, token: 'not-a-token' });
    expect((await refused.closed).code).toBe(4001);

    // A slow consumer: a connection that stops reading is cut.
    const slow = await RawWs.native(url, undefined, { perMessageDeflate: false });
    slow.send({ type: 'subscribe', channel: 'public:firehose' });
    await slow.next((m) => m.type === 'subscribed');
    (slow.ws as any)._socket.pause();
    const payload = 'x'.repeat(30_000);
    for (let sent = 0; (await realtimeMetrics(url)).slowConsumerDisconnects === 0 && sent < 3_000; sent += 5) {
      await publish(url, { events: Array.from({ length: 5 }, () => ({ channel: 'public:firehose', data: { payload } })) });
      publishedEvents += 5;
    }
    (slow.ws as any)._socket.resume();
    expect((await slow.closed).code).toBe(4008);
    first.close();
    await first.closed;
    const rt = await realtimeMetrics(url);
    expect(rt.activeConnections).toBe(0);

    const scrape = await Scrape.of(url);
    // Stream outcomes by classification, per catalogue model; the unknown id folds into `other`.
    const outcomes = (model: string, outcome: string) => scrape.value('tributary_stream_outcomes_total', { model, outcome });
    expect(outcomes('demo/tiny', 'ok')).toBe(6);
    expect(outcomes('demo/flaky', 'ok')).toBe(flaky.filter((r) => r.status === 'ok').length);
    for (const code of new Set(failedCodes)) expect(outcomes('demo/flaky', code!)).toBe(failedCodes.filter((c) => c === code).length);
    expect(scrape.value('tributary_stream_outcomes_total', { model: 'other', provider: 'other', outcome: 'invalid_model' })).toBe(1);
    expect(scrape.labelValues('tributary_stream_outcomes_total', 'model').sort()).toEqual(['demo/flaky', 'demo/tiny', 'other']);

    // Histograms: one TTFT per run that produced a token, one gap per further token.
    const streamed = results.filter((r) => (r.outputTokens ?? 0) > 0);
    for (const model of ['demo/tiny', 'demo/flaky']) {
      const runs = streamed.filter((r) => r.model === model);
      expect(scrape.count('tributary_ttft_seconds', { model, provider: 'demo' })).toBe(runs.length);
      expect(scrape.count('tributary_inter_token_gap_seconds', { model, provider: 'demo' })).toBe(runs.reduce((n, r) => n + r.outputTokens! - 1, 0));
      expect(scrape.count('tributary_gateway_added_latency_seconds', { model, provider: 'demo' })).toBe(runs.length);
      expect(scrape.value('tributary_usage_tokens_total', { model, kind: 'output' })).toBe(
        results.filter((r) => r.model === model).reduce((n, r) => n + (r.outputTokens ?? 0), 0),
      );
    }
    expect(scrape.type('tributary_ttft_seconds')).toBe('HISTOGRAM');

    expect(scrape.value('tributary_reconnects_total', { recovered: 'true' })).toBe(1);
    expect(scrape.value('tributary_reconnects_total', { recovered: 'false' })).toBe(1);
    expect(scrape.value('tributary_connection_attempts_total', { transport: 'websocket' })).toBe(3);
    expect(scrape.value('tributary_connection_successes_total', { transport: 'websocket' })).toBe(2);
    expect(scrape.value('tributary_connections_active', { transport: 'websocket' })).toBe(0);
    expect(scrape.value('tributary_slow_consumer_disconnects_total')).toBe(1);
    expect(scrape.value('tributary_events_published_total')).toBe(rt.published);
    expect(rt.published).toBe(publishedEvents);
    expect(scrape.value('tributary_events_delivered_total')).toBe(rt.eventsDelivered);
    expect(scrape.value('tributary_compressed_messages_total')).toBe(rt.compressedMessages);

    // HTTP by route pattern (never the URL) and status.
    expect(scrape.count('tributary_http_request_duration_seconds', { route: '/compare', status: '200' })).toBe(6);
    expect(scrape.count('tributary_http_request_duration_seconds', { route: '/v1/comparisons/:id', status: '200' })).toBe(6);
    expect(scrape.labelValues('tributary_http_request_duration_seconds', 'route').every((r) => !r.includes('cmp_'))).toBe(true);
    // Process metrics from prom-client's defaults.
    for (const name of [
      'tributary_process_resident_memory_bytes',
      'tributary_nodejs_heap_size_used_bytes',
      'tributary_nodejs_eventloop_lag_p99_seconds',
      'tributary_nodejs_active_handles_total',
    ]) {
      expect(scrape.families.has(name), name).toBe(true);
    }
    expect(scrape.text).not.toContain('metrics prompt'); // no prompt text anywhere
  });
});

const pgUp = await postgresAvailable();

describe.each([{ db: 'sqlite' }, ...(pgUp ? [{ db: 'postgres' }] : [])])('job gauges on $db', ({ db }) => {
  const schema = randomSchema();
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({
      // Answers that never come: the claimed items stay running until the job is cancelled.
      demo: { speed: 1, models: { 'demo/never': { name: 'Never', firstTokenMs: 3_600_000, tokensPerSecond: 10, answerTokens: 4 } } },
      jobs: { ...FAST_JOBS, concurrency: 2 },
      ops: { snapshotIntervalMs: 50 },
      ...(db === 'postgres' ? { database: { url: TEST_DATABASE_URL, schema } } : {}),
    });
  });
  afterAll(async () => {
    await server.close();
    if (db === 'postgres') await dropSchema(schema).catch(() => undefined);
  });

  it('/metrics and the dashboard feed show jobs by state, the queue depth and the items running', async () => {
    const created = await createJob(server.url, { prompts: ['a', 'b', 'c', 'd', 'e', 'f'], models: ['demo/never'] });
    expect(created.status).toBe(201);
    const id = created.json.id;
    let scrape = await Scrape.of(server.url);
    // The job's own row turns running just after its first claim commits.
    for (let i = 0; i < 200 && (scrape.value('tributary_job_items_running') < 2 || scrape.value('tributary_jobs', { state: 'running' }) < 1); i++) {
      await new Promise((r) => setTimeout(r, 25));
      scrape = await Scrape.of(server.url);
    }
    // Leased items: the two running and those a worker claimed to run next.
    const leased = scrape.value('tributary_job_items_running');
    expect(leased).toBeGreaterThanOrEqual(2);
    expect(scrape.value('tributary_job_queue_depth')).toBe(6 - leased);
    expect(scrape.value('tributary_jobs', { state: 'running' })).toBe(1);
    expect(scrape.value('tributary_jobs', { state: 'cancelled' })).toBe(0);
    const snapshotJobs = async () => {
      const recovery = await server.app.ctx.hub.recover(OPS_TOPIC, { from: 'start' }, 1_000);
      return recovery.recovered ? (recovery.events.at(-1)?.data as OpsSnapshot | undefined)?.jobs : undefined;
    };
    const started = Date.now();
    const settled = (j: OpsSnapshot['jobs'] | undefined) => j !== undefined && j !== null && j.runningItems >= 2;
    while (!settled(await snapshotJobs()) && Date.now() - started < 5_000) await new Promise((r) => setTimeout(r, 25));
    const jobs = await snapshotJobs();
    expect(jobs?.activeJobs).toBe(1);
    expect(jobs!.runningItems).toBeGreaterThanOrEqual(2);
    expect(jobs!.queuedItems + jobs!.runningItems).toBe(6); // one consistent read: no item counted twice

    expect((await fetch(`${server.url}/v1/jobs/${id}/cancel`, { method: 'POST' })).status).toBe(200);
    expect((await getJob(server.url, id)).status).toBe('cancelled');
    scrape = await Scrape.of(server.url);
    expect(scrape.value('tributary_jobs', { state: 'cancelled' })).toBe(1);
    expect(scrape.value('tributary_jobs', { state: 'running' })).toBe(0);
    expect(scrape.value('tributary_job_queue_depth')).toBe(0);
    expect(scrape.value('tributary_job_items_running')).toBe(0);
  });
});

describe('token timer', () => {
  it('times gaps by when the provider had each token, and reads the clock itself only when a token does not say', async () => {
    const metrics = new OpsMetrics((id) => ({ model: id, provider: 'demo' }));
    const stamped = metrics.timeTokens('demo/a');
    for (const at of [1_000, 1_004, 1_010, 1_010.05]) stamped.token(at); // gaps 4 ms, 6 ms, 0.05 ms
    stamped.firstPublished();
    const unstamped = metrics.timeTokens('demo/b');
    unstamped.token(undefined);
    await new Promise((resolve) => setTimeout(resolve, 30));
    unstamped.token(undefined);

    const scrape = new Scrape((await metrics.scrape()).body);
    const gap = (model: string, le: string) => scrape.value('tributary_inter_token_gap_seconds_bucket', { model, le });
    expect(scrape.count('tributary_inter_token_gap_seconds', { model: 'demo/a' })).toBe(3);
    expect(scrape.value('tributary_inter_token_gap_seconds_sum', { model: 'demo/a' })).toBeCloseTo(0.01005, 6);
    expect([gap('demo/a', '0.0001'), gap('demo/a', '0.0025'), gap('demo/a', '0.005'), gap('demo/a', '0.01')]).toEqual([1, 1, 2, 3]);
    expect(scrape.count('tributary_ttft_seconds', { model: 'demo/a' })).toBe(1);
    expect(scrape.count('tributary_gateway_added_latency_seconds', { model: 'demo/a' })).toBe(1);
    // Without `at`, the gap is the clock's: ~30 ms, not 0.
    expect(scrape.value('tributary_inter_token_gap_seconds_sum', { model: 'demo/b' })).toBeGreaterThanOrEqual(0.025);
  });
});

describe('/metrics protection and switch', () => {
  it('requires the bearer token when one is configured', async () => {
    const server = await startServer({ ops: { metricsToken: 'metrics-token-0123456789' } });
    try {
      const bare = await fetch(`${server.url}/metrics`);
      expect(bare.status).toBe(401);
      expect((await bare.json()).code).toBe('unauthorized');
      expect((await fetch(`${server.url}/metrics`, { headers: { Authorization: 'Bearer wrong-token-0123456789ab' } })).status).toBe(401);
      const scrape = await Scrape.of(server.url, { Authorization: 'Bearer metrics-token-0123456789' });
      expect(scrape.families.has('tributary_ttft_seconds')).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('answers metrics_disabled when metrics are off', async () => {
    const server = await startServer({ ops: { metricsEnabled: false } });
    try {
      const res = await fetch(`${server.url}/metrics`);
      expect(res.status).toBe(404);
      expect((await res.json()).code).toBe('metrics_disabled');
    } finally {
      await server.close();
    }
  });
});

/** Six prompts: the flaky model fails twice before its first token, twice mid-stream, and answers twice. */
function scriptedPrompts(): string[] {
  const want = { before_first_token: 2, mid_stream: 2, none: 2 };
  const prompts: string[] = [];
  for (let i = 0; prompts.length < 6; i++) {
    const prompt = `metrics prompt ${i}`;
    const mode = demoFailureMode('demo/flaky', [{ role: 'user', content: prompt }]);
    if (want[mode]-- > 0) prompts.push(prompt);
  }
  return prompts;
}
