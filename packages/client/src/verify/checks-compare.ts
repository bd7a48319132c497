import { fail, pass, skip, type Check, type VerifyContext } from './context.js';
import { seqOf, type SseRun, type TimedFrame } from './http.js';
import { percentiles, round } from './stats.js';

const PROMPT = 'Explain in a few sentences how rivers form deltas.';
const INVALID_MODEL = 'verify/no-such-model';

/** Seed `/compare-stream` data frames (position frames and heartbeats left out). */
const dataFrames = (run: SseRun) => run.frames.filter((f) => f.event === 'message' && f.json && typeof f.json.type === 'string');
const chunks = (run: SseRun) => dataFrames(run).filter((f) => f.json.type === 'chunk');

/** Per model: time to first chunk, and the gaps between its chunks. */
export function tokenTimes(run: SseRun): { ttft: Map<string, number>; gaps: number[] } {
  const ttft = new Map<string, number>();
  const last = new Map<string, number>();
  const gaps: number[] = [];
  for (const f of chunks(run)) {
    const model = String(f.json.model);
    const prev = last.get(model);
    if (prev === undefined) ttft.set(model, f.t);
    else gaps.push(f.t - prev);
    last.set(model, f.t);
  }
  return { ttft, gaps };
}

function compareStream(ctx: VerifyContext, models: string[], extra: Parameters<VerifyContext['http']['sse']>[1] = {}): Promise<SseRun> {
  return ctx.http.sse('/compare-stream', { body: { input_data: PROMPT, models, tier: 'brief' }, timeoutMs: 60_000, ...extra });
}

/** Why a seed stream did not end well, or undefined. */
function streamProblem(run: SseRun, models: string[]): string | undefined {
  if (run.status !== 200) return `HTTP ${run.status} ${JSON.stringify(run.body)?.slice(0, 200)}`;
  if (run.error) return run.error;
  const frames = dataFrames(run);
  for (const model of models) {
    const done = frames.find((f) => f.json.type === 'done' && f.json.model === model);
    if (!done) return `${model} never sent its done frame`;
    if (done.json.error) return `${model} failed: ${done.json.error_message ?? done.json.error_code ?? 'error'}`;
  }
  if (!frames.some((f) => f.json.type === 'complete')) return 'no complete frame';
  return undefined;
}

export const health: Check = {
  id: 'health',
  title: 'Health and readiness',
  profiles: ['smoke', 'full', 'load'],
  required: true,
  async run(ctx, out) {
    const h = await ctx.http.request('GET', '/health');
    out.set('healthStatus', h.status);
    out.set('healthMs', h.ms);
    if (h.status !== 200 || h.json?.status !== 'healthy') return fail(`GET /health answered ${h.status} ${h.text.slice(0, 120)}`);
    const r = await ctx.http.request('GET', '/ready');
    out.set('readyStatus', r.status);
    if (r.status === 404) return pass(`/health is healthy (${round(h.ms)} ms); the server has no /ready`);
    if (r.status !== 200) return fail(`GET /ready answered ${r.status} ${r.text.slice(0, 160)}`);
    return pass(`/health healthy in ${round(h.ms)} ms, /ready 200`);
  },
};

export const models: Check = {
  id: 'models',
  title: 'Model catalogue',
  profiles: ['smoke', 'full', 'load'],
  required: true,
  async run(ctx, out) {
    const res = await ctx.http.request('GET', '/models');
    const list: any[] = Array.isArray(res.json?.models) ? res.json.models : [];
    out.set('models', list.length);
    if (res.status !== 200 || list.length === 0) return fail(`GET /models answered ${res.status} with ${list.length} models`);
    const ids = new Set(list.map((m) => String(m.id)));
    if (ctx.options.models?.length) {
      const missing = ctx.options.models.filter((m) => !ids.has(m));
      ctx.models = ctx.options.models;
      if (missing.length) return fail(`not in the catalogue: ${missing.join(', ')}`);
    } else {
      // Demo models first (no cost), never the deliberately failing one.
      const usable = list.filter((m) => !/flaky/.test(String(m.id)));
      const demo = usable.filter((m) => m.demo === true);
      ctx.models = (demo.length >= 2 ? demo : usable).slice(0, 3).map((m) => String(m.id));
    }
    out.set('chosen', ctx.models.join(','));
    if (!res.json?.models_by_provider) return fail('the answer has no models_by_provider');
    return pass(`${list.length} models; checking with ${ctx.models.join(', ')}`);
  },
};

export const compare: Check = {
  id: 'compare',
  title: 'Non-streaming compare',
  profiles: ['smoke', 'full'],
  required: true,
  async run(ctx, out) {
    const res = await ctx.http.request('POST', '/compare', { body: { input_data: PROMPT, models: ctx.models, tier: 'brief' }, timeoutMs: 60_000 });
    out.set('status', res.status);
    out.set('wallMs', res.ms);
    if (res.status !== 200) return fail(`POST /compare answered ${res.status} ${res.text.slice(0, 160)}`);
    const results = res.json?.results ?? {};
    const missing = ctx.models.filter((m) => typeof results[m] !== 'string' || results[m].length === 0);
    out.set('modelsSuccessful', res.json?.metadata?.models_successful ?? null);
    out.set('processingTimeMs', res.json?.metadata?.processing_time_ms ?? null);
    if (missing.length) return fail(`no result text for ${missing.join(', ')}`);
    if (res.json?.metadata?.models_successful !== ctx.models.length)
      return fail(`metadata.models_successful is ${res.json?.metadata?.models_successful}, expected ${ctx.models.length}`);
    return pass(`${ctx.models.length} results in ${round(res.ms)} ms`);
  },
};

export const stream: Check = {
  id: 'stream',
  title: 'Streaming compare: TTFT and inter-token gaps',
  profiles: ['smoke', 'full'],
  required: true,
  async run(ctx, out) {
    const runs = ctx.full ? 10 : 3;
    const ttfts: number[] = [];
    const gaps: number[] = [];
    for (let i = 0; i < runs; i++) {
      ctx.progress(`stream: run ${i + 1}/${runs}`);
      const run = await compareStream(ctx, ctx.models);
      ctx.streamRuns.push(run);
      const problem = streamProblem(run, ctx.models);
      if (problem) return fail(`run ${i + 1}: ${problem}`);
      const t = tokenTimes(run);
      ttfts.push(...t.ttft.values());
      gaps.push(...t.gaps);
    }
    const tt = percentiles(ttfts);
    const gp = percentiles(gaps);
    out.set('runs', runs);
    out.set('ttftP50Ms', tt.p50);
    out.set('ttftP99Ms', tt.p99);
    out.set('interTokenP50Ms', gp.p50);
    out.set('interTokenP99Ms', gp.p99);
    const okT = out.within('ttftP95Ms', tt.p95, { max: ctx.thresholds.ttftMs });
    const okG = out.within('interTokenP95Ms', gp.p95, { max: ctx.thresholds.interTokenMs });
    const figures = `TTFT p50/p95/p99 ${tt.p50}/${tt.p95}/${tt.p99} ms, inter-token ${gp.p50}/${gp.p95}/${gp.p99} ms over ${runs} runs`;
    if (!okT) return fail(`first tokens too slow: ${figures} (TTFT p95 must be < ${ctx.thresholds.ttftMs} ms)`);
    if (!okG) return fail(`tokens too far apart: ${figures} (inter-token p95 must be < ${ctx.thresholds.interTokenMs} ms)`);
    return pass(figures);
  },
};

/** How often consecutive chunks come from different models. */
function switches(run: SseRun): number {
  let n = 0;
  let prev: string | undefined;
  for (const f of chunks(run)) {
    if (prev !== undefined && f.json.model !== prev) n++;
    prev = f.json.model;
  }
  return n;
}

function spread(values: number[]): number {
  return values.length ? Math.max(...values) - Math.min(...values) : 0;
}

export const concurrency: Check = {
  id: 'concurrency',
  title: 'Concurrency verdict (CONCURRENT / SEQUENTIAL)',
  profiles: ['smoke', 'full'],
  required: true,
  async run(ctx, out) {
    if (ctx.models.length < 2) return skip('needs two models or more (--models a,b)');
    const alone: number[] = [];
    for (const model of ctx.models) {
      ctx.progress(`concurrency: ${model} alone`);
      const run = await compareStream(ctx, [model]);
      const problem = streamProblem(run, [model]);
      if (problem) return fail(`${model} alone: ${problem}`);
      alone.push(lastChunkAt(run));
    }
    ctx.progress('concurrency: all models together');
    const together = await compareStream(ctx, ctx.models);
    const problem = streamProblem(together, ctx.models);
    if (problem) return fail(`together: ${problem}`);
    const frames = dataFrames(together);
    const starts = ctx.models.map((m) => frames.find((f) => f.json.type === 'start' && f.json.model === m)?.t ?? NaN);
    const firsts = [...tokenTimes(together).ttft.values()];
    const total = lastChunkAt(together);
    const slowest = Math.max(...alone);
    const sum = alone.reduce((a, b) => a + b, 0);
    const sw = switches(together);
    out.set('startSpreadMs', spread(starts));
    out.set('firstChunkSpreadMs', spread(firsts));
    out.set('interleavings', sw);
    out.set('totalMs', total);
    out.set('slowestAloneMs', slowest);
    out.set('sumAloneMs', sum);
    // Closer to the slowest model alone than to all of them one after another, and chunks mixed.
    const midpoint = (slowest + sum) / 2;
    const concurrent = total < midpoint && sw >= ctx.models.length;
    out.set('verdict', concurrent ? 'CONCURRENT' : 'SEQUENTIAL');
    out.thresholds.totalMs = { max: round(midpoint) };
    out.thresholds.interleavings = { min: ctx.models.length - 1 };
    const figures = `total ${round(total)} ms vs slowest alone ${round(slowest)} ms and sum ${round(sum)} ms; starts spread ${round(spread(starts))} ms, first chunks spread ${round(spread(firsts))} ms, ${sw} switches between models`;
    return concurrent ? pass(`CONCURRENT: ${figures}`) : fail(`SEQUENTIAL: ${figures}`);
  },
};

const lastChunkAt = (run: SseRun) => chunks(run).at(-1)?.t ?? run.endAt;

export const isolation: Check = {
  id: 'isolation',
  title: 'Error isolation (an invalid model)',
  profiles: ['smoke', 'full'],
  required: true,
  async run(ctx, out) {
    const good = ctx.models[0]!;
    const run = await compareStream(ctx, [good, INVALID_MODEL]);
    out.set('status', run.status);
    if (run.status >= 500) return fail(`one invalid model made the whole request fail: HTTP ${run.status}`);
    if (run.status !== 200)
      return fail(`the request was refused (HTTP ${run.status} ${JSON.stringify(run.body)?.slice(0, 120)}), so ${good} did not stream either`);
    const frames = dataFrames(run);
    const bad = frames.find((f) => f.json.type === 'done' && f.json.model === INVALID_MODEL);
    const goodDone = frames.find((f) => f.json.type === 'done' && f.json.model === good);
    const goodChunks = frames.filter((f) => f.json.type === 'chunk' && f.json.model === good).length;
    out.set('validModelChunks', goodChunks);
    out.set('invalidModelError', bad?.json.error_code ?? (bad?.json.error ? 'error' : null));
    if (!bad?.json.error) return fail(`${INVALID_MODEL} did not end with an error frame`);
    if (!goodDone || goodDone.json.error || goodChunks === 0) return fail(`${good} did not finish next to the invalid model (${goodChunks} chunks)`);
    if (!frames.some((f) => f.json.type === 'complete')) return fail('no complete frame after the invalid model');
    return pass(`${INVALID_MODEL} failed alone (${bad.json.error_code ?? 'error'}); ${good} streamed ${goodChunks} chunks and completed`);
  },
};

/** Seed events of a run as (seq, data frame) pairs: every data frame is followed by its position. */
function positions(run: SseRun): { seqs: number[]; unpositioned: number } {
  const seqs: number[] = [];
  let pending = 0;
  for (const f of run.frames) {
    if (f.event === 'position') {
      const s = seqOf(f.id);
      if (s !== undefined) seqs.push(s);
      pending = 0;
    } else if (f.event === 'message' && f.json && f.json.type !== 'recovery') pending++;
  }
  return { seqs, unpositioned: pending };
}

export const resume: Check = {
  id: 'resume',
  title: 'Resume after a forced mid-stream disconnect',
  profiles: ['smoke', 'full'],
  required: true,
  async run(ctx, out) {
    const model = ctx.models[0]!;
    const body = { input_data: PROMPT, models: [model], tier: 'brief' };
    const cutAfter = 5;
    const first = await ctx.http.sse('/compare-stream', {
      body,
      timeoutMs: 60_000,
      until: (f, all) => (f.event === 'position' && all.filter((x) => x.json?.type === 'chunk').length >= cutAfter ? 'stop' : undefined),
    });
    if (first.status !== 200) return fail(`POST /compare-stream answered ${first.status}`);
    const before = positions(first);
    const lastId = [...first.frames].reverse().find((f) => f.id)?.id;
    const comparisonId = dataFrames(first).find((f) => f.json.type === 'comparison')?.json.comparison_id;
    if (!lastId) return fail('the stream carries no SSE ids, so it cannot be resumed');
    const second = await ctx.http.sse('/compare-stream', { body, headers: { 'Last-Event-ID': lastId }, timeoutMs: 60_000 });
    if (second.status !== 200) return fail(`the resume (Last-Event-ID ${lastId}) answered ${second.status}`);
    const recovery = dataFrames(second).find((f) => f.json.type === 'recovery');
    const after = positions(second);
    const all = [...before.seqs, ...after.seqs];
    const gaps: number[] = [];
    const dups: number[] = [];
    for (let i = 1; i < all.length; i++) {
      if (all[i]! <= all[i - 1]!) dups.push(all[i]!);
      else if (all[i]! > all[i - 1]! + 1) for (let s = all[i - 1]! + 1; s < all[i]!; s++) gaps.push(s);
    }
    out.set('cutAtSeq', before.seqs.at(-1) ?? null);
    out.set('resumedFromSeq', after.seqs[0] ?? null);
    out.set('recovered', recovery?.json.recovered ?? null);
    out.within('missingEvents', gaps.length, { max: 1 });
    out.within('duplicateEvents', dups.length, { max: 1 });
    if (recovery && recovery.json.recovered !== true) return fail(`the server could not recover the position (${recovery.json.reason ?? 'recovered:false'})`);
    if (gaps.length)
      return fail(
        `events lost on reconnect: seq ${gaps.slice(0, 10).join(', ')}${gaps.length > 10 ? '…' : ''} never arrived (cut at ${before.seqs.at(-1)}, resumed at ${after.seqs[0]})`,
      );
    if (dups.length) return fail(`events repeated on reconnect: seq ${dups.slice(0, 10).join(', ')}`);
    const problem = streamProblem({ ...second, frames: [...first.frames, ...second.frames] }, [model]);
    if (problem) return fail(`after the resume: ${problem}`);
    if (comparisonId) {
      // The text put together across the cut must be the text the server kept.
      const stored = await ctx.http.request('GET', `/v1/comparisons/${encodeURIComponent(comparisonId)}`);
      if (stored.status === 200) {
        const text = [...first.frames, ...second.frames]
          .filter((f) => f.event === 'message' && f.json?.type === 'chunk')
          .map((f) => f.json.content)
          .join('');
        const kept = stored.json?.models?.find((m: any) => m.model === model)?.text;
        out.set('textMatchesServer', kept === text);
        if (typeof kept === 'string' && kept !== text)
          return fail(`the text put together across the cut (${text.length} chars) differs from the server's (${kept.length} chars)`);
      }
    }
    return pass(`cut after seq ${before.seqs.at(-1)}, resumed at ${after.seqs[0]}: ${all.length} events, no gap, no duplicate`);
  },
};

export const cancel: Check = {
  id: 'cancel',
  title: 'Cancel a running generation',
  profiles: ['smoke', 'full'],
  required: true,
  async run(ctx, out) {
    const model = ctx.models.at(-1)!;
    const started = await ctx.http.request('POST', '/v1/comparisons', { body: { prompt: PROMPT, models: [model], tier: 'brief' } });
    if (started.status === 404) return skip('the server has no POST /v1/comparisons (cancel is a native route)');
    if (started.status !== 201) return fail(`POST /v1/comparisons answered ${started.status} ${started.text.slice(0, 120)}`);
    const id = String(started.json.id);
    let cancelledAt = 0;
    let deltasAfter = 0;
    let cancelStatus = 0;
    const run = await ctx.http.sse(`/v1/comparisons/${encodeURIComponent(id)}/stream`, {
      timeoutMs: 60_000,
      until: (f) => {
        if (f.event === 'model.delta' && cancelledAt === 0) {
          cancelledAt = f.t;
          void ctx.http.request('DELETE', `/v1/comparisons/${encodeURIComponent(id)}`).then(
            (r) => (cancelStatus = r.status),
            () => (cancelStatus = -1),
          );
        } else if (f.event === 'model.delta') deltasAfter++;
        return undefined;
      },
    });
    const end = run.frames.find((f) => f.event === 'model.error' && f.json?.status === 'cancelled');
    const done = run.frames.find((f) => f.event === 'comparison.done');
    out.set('cancelStatus', cancelStatus);
    out.set('deltasAfterCancel', deltasAfter);
    out.set('finalStatus', done?.json?.status ?? null);
    if (cancelledAt === 0) return fail('the stream sent no delta to cancel after');
    const ok = out.within('cancelMs', end ? end.t - cancelledAt : null, { max: ctx.thresholds.cancelMs });
    if (!end) return fail(`no model.error with status cancelled after DELETE (HTTP ${cancelStatus}); final status ${done?.json?.status ?? 'none'}`);
    if (done?.json?.status !== 'cancelled') return fail(`the comparison ended ${done?.json?.status ?? 'without comparison.done'}, not cancelled`);
    if (!ok) return fail(`cancel took ${round(end.t - cancelledAt)} ms (must be < ${ctx.thresholds.cancelMs} ms)`);
    return pass(`cancelled in ${round(end.t - cancelledAt)} ms, ${deltasAfter} deltas in flight after the request`);
  },
};

/**
 * Share of a run's chunks that arrived in bursts: 10 or more in one network read, more than the
 * stream produces in 100 ms at its own pace. A buffering proxy releases a buffer's worth at once;
 * a fast stream (or a busy client) merely packs a few milliseconds' worth into one read.
 */
export function burstShare(run: SseRun): number {
  const cs = chunks(run);
  if (cs.length < 10) return 0;
  const perMs = (cs.length - 1) / Math.max(1, cs.at(-1)!.t - cs[0]!.t);
  const perRead = new Map<number, number>();
  for (const f of cs) perRead.set(f.read, (perRead.get(f.read) ?? 0) + 1);
  let inBursts = 0;
  for (const n of perRead.values()) if (n >= 10 && n / perMs >= 100) inBursts += n;
  return inBursts / cs.length;
}

export const buffering: Check = {
  id: 'buffering',
  title: 'Proxy buffering and compression of SSE',
  profiles: ['smoke', 'full'],
  required: true,
  async run(ctx, out) {
    const runs = ctx.streamRuns.length ? ctx.streamRuns : [await compareStream(ctx, ctx.models)];
    const encodings = [...new Set(runs.map((r) => r.headers.get('content-encoding') ?? 'identity'))];
    out.set('contentEncoding', encodings.join(','));
    out.set('xAccelBuffering', runs[0]!.headers.get('x-accel-buffering'));
    const share = Math.max(...runs.map(burstShare));
    const largestRead = Math.max(
      ...runs.map((r) => {
        const perRead = new Map<number, number>();
        for (const f of chunks(r)) perRead.set(f.read, (perRead.get(f.read) ?? 0) + 1);
        return Math.max(0, ...perRead.values());
      }),
    );
    out.set('largestReadChunks', largestRead);
    const okBursts = out.within('burstShare', share, { max: ctx.thresholds.burstShare });
    if (encodings.some((e) => e !== 'identity'))
      return fail(`the SSE response is compressed (Content-Encoding: ${encodings.join(', ')}): compression buffers events until a block fills`);
    if (!okBursts) {
      return fail(
        `tokens arrive in bursts: ${round(share * 100)} % of a stream's chunks came in reads of 10 or more (up to ${largestRead}), each worth over 100 ms of the stream — a proxy is buffering the stream (nginx: proxy_buffering off)`,
      );
    }
    return pass(`no buffering: ${round(share * 100)} % of chunks in bursts (largest read ${largestRead} chunks), no Content-Encoding`);
  },
};

export const chat: Check = {
  id: 'chat-stream',
  title: 'Chat stream and its sse_streaming flag',
  profiles: ['smoke', 'full'],
  required: true,
  async run(ctx, out) {
    const config = await ctx.http.request('GET', '/v1/client-config');
    const flag: boolean | undefined = config.status === 200 ? config.json?.flags?.sse_streaming : undefined;
    out.set('flag', flag ?? null);
    const model = ctx.models[0]!;
    const run = await ctx.http.sse('/chat-stream', { body: { query: PROMPT, model }, timeoutMs: 60_000 });
    out.set('status', run.status);
    if (run.status === 404 && flag === undefined) return skip('the server has no /chat-stream');
    if (run.status === 403) {
      if (run.body?.code !== 'feature_flag_disabled') return fail(`403 without code feature_flag_disabled: ${JSON.stringify(run.body)?.slice(0, 120)}`);
      if (flag === true) return fail('the flag says streaming is on, but /chat-stream answers 403 feature_flag_disabled');
      const whole = await ctx.http.request('POST', '/chat', { body: { query: PROMPT, model }, timeoutMs: 60_000 });
      out.set('chatStatus', whole.status);
      if (whole.status !== 200) return fail(`streaming is off, and /chat (which must keep working) answered ${whole.status}`);
      return pass('sse_streaming is off: /chat-stream answers 403 feature_flag_disabled and /chat works');
    }
    const problem = streamProblem(run, [model]);
    if (problem) return fail(`/chat-stream: ${problem}`);
    if (flag === false) return fail('the flag says streaming is off, but /chat-stream streams');
    const ttft = tokenTimes(run).ttft.get(model) ?? null;
    out.set('ttftMs', ttft);
    return pass(
      `/chat-stream streamed ${chunks(run).length} chunks (first after ${round(ttft ?? 0)} ms); sse_streaming ${flag === undefined ? 'not reported' : 'on'}`,
    );
  },
};

export const rateLimit: Check = {
  id: 'rate-limit',
  title: 'Rate limiting: 429 with Retry-After',
  profiles: ['smoke', 'full'],
  required: true,
  async run(ctx, out) {
    if (!ctx.options.allowDestructive) return skip("spends the caller's quota: run with --allow-destructive");
    const limits = await ctx.http.request('GET', '/v1/me/limits');
    const remaining = Object.values<any>(limits.json?.limits ?? {})
      .map((l) => l?.remaining)
      .filter((r): r is number => typeof r === 'number');
    // Enough requests to pass the tightest limit, bounded.
    const budget = Math.min(200, remaining.length ? Math.min(...remaining) + 5 : 60);
    out.set('budget', budget);
    const model = ctx.models[0]!;
    let sent = 0;
    let limited: { status: number; headers: Headers; json: any } | undefined;
    let errors = 0;
    const worker = async () => {
      while (!limited && sent < budget) {
        sent++;
        const res = await ctx.http
          .request('POST', '/compare', { body: { input_data: 'Hi', models: [model], tier: 'brief' }, timeoutMs: 60_000 })
          .catch(() => undefined);
        if (!res || res.status >= 500) errors++;
        else if (res.status === 429) limited ??= res;
        ctx.progress(`rate-limit: ${sent}/${budget} requests`);
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    out.set('requests', sent);
    out.set('serverErrors', errors);
    if (!limited)
      return fail(
        `no 429 after ${sent} requests (budget ${budget}${remaining.length ? `; /v1/me/limits said ${Math.min(...remaining)} remained` : ''}): the server does not limit`,
      );
    const retryAfter = limited.headers.get('retry-after');
    out.set('retryAfter', retryAfter);
    out.set('code', limited.json?.code ?? null);
    if (!retryAfter || !/^\d+$/.test(retryAfter.trim()))
      return fail(`429 after ${sent} requests, but without a Retry-After in seconds (${retryAfter ?? 'none'})`);
    return pass(`429 ${limited.json?.code ?? ''} after ${sent} requests, Retry-After ${retryAfter} s`);
  },
};

const SERIES = [
  'tributary_ttft_seconds',
  'tributary_inter_token_gap_seconds',
  'tributary_stream_outcomes_total',
  'tributary_connections_active',
  'tributary_events_delivered_total',
  'tributary_rate_limit_rejections_total',
  'tributary_http_request_duration_seconds',
];

export const metrics: Check = {
  id: 'metrics',
  title: '/metrics exposes the expected series',
  profiles: ['smoke', 'full'],
  required: true,
  async run(ctx, out) {
    const res = await ctx.http.request('GET', '/metrics', { token: ctx.options.metricsToken ?? ctx.options.token ?? null });
    out.set('status', res.status);
    if (res.status === 404) return skip(`the server has no /metrics (${res.json?.code ?? '404'})`);
    if (res.status === 401 || res.status === 403) return skip(`/metrics needs a token (${res.status}): pass --metrics-token`);
    if (res.status !== 200) return fail(`GET /metrics answered ${res.status}`);
    const missing = SERIES.filter((s) => !new RegExp(`^# TYPE ${s} `, 'm').test(res.text));
    out.set('series', SERIES.length - missing.length);
    out.set('missing', missing.join(',') || null);
    if (missing.length) return fail(`missing series: ${missing.join(', ')}`);
    return pass(`all ${SERIES.length} expected series present`);
  },
};

export const openapi: Check = {
  id: 'openapi',
  title: '/openapi.json',
  profiles: ['smoke', 'full'],
  required: true,
  async run(ctx, out) {
    const res = await ctx.http.request('GET', '/openapi.json');
    out.set('status', res.status);
    if (res.status === 404) return skip('the server has no /openapi.json');
    if (res.status !== 200 || !res.json) return fail(`GET /openapi.json answered ${res.status} ${res.headers.get('content-type') ?? ''}`);
    const version = res.json.openapi;
    const paths = Object.keys(res.json.paths ?? {});
    out.set('openapi', typeof version === 'string' ? version : null);
    out.set('paths', paths.length);
    if (typeof version !== 'string' || !/^3\./.test(version)) return fail(`not an OpenAPI 3 document (openapi: ${JSON.stringify(version)})`);
    if (paths.length === 0) return fail('the document describes no paths');
    return pass(`OpenAPI ${version}, ${paths.length} paths`);
  },
};

export type { TimedFrame };
