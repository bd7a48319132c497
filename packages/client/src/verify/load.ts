import { SseParser } from '../sse-parser.js';
import { cpuMs, fail, pass, type Check, type VerifyContext } from './context.js';
import { percentiles, round } from './stats.js';
import type { LoadSummary } from './types.js';

const PROMPT = 'Explain in a few sentences how rivers form deltas.';
const MAX_RESUMES = 3;

interface StreamOutcome {
  connected: boolean;
  completed: boolean;
  error?: string;
  reconnects: number;
}

/** A growable Float64 sample (100 streams × hundreds of tokens: keep it flat). */
class Sample {
  private buf = new Float64Array(4_096);
  length = 0;
  push(x: number): void {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = x;
  }
  values(): Float64Array {
    return this.buf.subarray(0, this.length);
  }
}

/**
 * One stream of the load: POST /compare-stream, resumed with Last-Event-ID when the connection
 * breaks. Times count from `scheduledAt`, not from when the request left (no coordinated omission).
 */
async function oneStream(
  ctx: VerifyContext,
  model: string,
  scheduledAt: number,
  deadline: AbortSignal,
  ttft: Sample,
  gaps: Sample,
  counter: { events: number },
): Promise<StreamOutcome> {
  const outcome: StreamOutcome = { connected: false, completed: false, reconnects: 0 };
  let lastId: string | undefined;
  let last = -1;
  let attempt = 0;
  for (;;) {
    let res: Response;
    try {
      res = await ctx.http.fetch(ctx.http.url('/compare-stream'), {
        method: 'POST',
        headers: ctx.http.headers({ 'Content-Type': 'application/json', Accept: 'text/event-stream', ...(lastId ? { 'Last-Event-ID': lastId } : {}) }),
        body: JSON.stringify({ input_data: PROMPT, models: [model], tier: 'brief' }),
        signal: deadline,
      });
    } catch {
      if (deadline.aborted) return { ...outcome, error: 'timeout' };
      if (lastId && attempt++ < MAX_RESUMES) {
        outcome.reconnects++;
        continue;
      }
      return { ...outcome, error: 'network' };
    }
    // A 5xx is never a success, whatever its body.
    if (res.status >= 500) {
      await res.body?.cancel();
      return { ...outcome, error: 'http_5xx' };
    }
    if (res.status === 429) {
      await res.body?.cancel();
      return { ...outcome, error: 'http_429' };
    }
    if (res.status !== 200 || !res.body) {
      await res.body?.cancel();
      return { ...outcome, error: 'http_4xx' };
    }
    outcome.connected = true;
    const parser = new SseParser();
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const now = performance.now();
        for (const m of parser.push(decoder.decode(value, { stream: true }))) {
          if (m.id) lastId = m.id;
          if (m.event !== 'message') continue;
          counter.events++;
          // Cheap test before parsing: most frames are chunks.
          if (m.data.includes('"type":"chunk"')) {
            if (last < 0) ttft.push(now - scheduledAt);
            else gaps.push(now - last);
            last = now;
            continue;
          }
          const json = JSON.parse(m.data);
          if (json.type === 'done' && json.error) {
            await reader.cancel();
            return { ...outcome, error: 'model_error' };
          }
          if (json.type === 'complete') {
            await reader.cancel();
            return { ...outcome, completed: true };
          }
        }
      }
    } catch {
      if (deadline.aborted) return { ...outcome, error: 'timeout' };
    }
    if (lastId && attempt++ < MAX_RESUMES) {
      outcome.reconnects++;
      continue;
    }
    return { ...outcome, error: 'incomplete' };
  }
}

export const load: Check = {
  id: 'load',
  title: 'Load: concurrent streams against the thresholds',
  profiles: ['load'],
  required: true,
  async run(ctx, out) {
    const n = ctx.options.concurrency ?? 100;
    const durationS = ctx.options.durationS ?? 10;
    const model = ctx.models;
    // Calibrate: one stream of each model alone says how long a stream lasts, so n stay in flight.
    const calStart = performance.now();
    const cal = await Promise.all(
      model.map(async (m) => {
        const o = await oneStream(ctx, m, performance.now(), AbortSignal.timeout(60_000), new Sample(), new Sample(), { events: 0 });
        return { ...o, ms: performance.now() - calStart };
      }),
    );
    const broken = cal.find((o) => !o.completed);
    if (broken) return fail(`a single stream did not complete (${broken.error}) before the load`);
    const streamMs = cal.reduce((a, o) => a + o.ms, 0) / cal.length;
    const intervalMs = Math.max(1, streamMs / n);
    const planned = Math.max(n, Math.floor((durationS * 1_000) / intervalMs));
    // Bounded: whatever has not ended by then counts as a timeout.
    const boundMs = durationS * 1_000 + Math.max(10_000, 3 * streamMs);
    const deadline = new AbortController();
    const slotFreed: (() => void)[] = [];
    const boundTimer = setTimeout(() => {
      deadline.abort();
      for (const f of slotFreed.splice(0)) f();
    }, boundMs);
    const ttft = new Sample();
    const gaps = new Sample();
    const counter = { events: 0 };
    const outcomes: StreamOutcome[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const cpu0 = cpuMs().mark;
    const t0 = performance.now();
    const all: Promise<void>[] = [];
    let launched = 0;
    const progress = setInterval(() => {
      const s = (performance.now() - t0) / 1_000;
      ctx.progress(
        `load: ${launched}/${planned} started, ${inFlight} in flight, ${outcomes.filter((o) => o.completed).length} completed, ${outcomes.filter((o) => o.error).length} errors, ${Math.round(counter.events / s)} events/s`,
      );
    }, 500);
    // Open loop: stream k is due at t0 + k × interval whether or not earlier ones have ended. At most
    // n are in flight; a due stream waits for a slot, and its times still count from when it was due
    // (a slow server shows as latency, not as fewer requests: no coordinated omission).
    const launch = (k: number) => {
      const scheduledAt = t0 + k * intervalMs;
      const m = model[k % model.length]!;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      all.push(
        oneStream(ctx, m, scheduledAt, deadline.signal, ttft, gaps, counter).then((o) => {
          outcomes.push(o);
          inFlight--;
          slotFreed.shift()?.();
        }),
      );
    };
    for (let k = 0; k < planned; k++) {
      const wait = t0 + k * intervalMs - performance.now();
      if (wait > 1 && !deadline.signal.aborted) await new Promise((r) => setTimeout(r, wait));
      while (inFlight >= n && !deadline.signal.aborted) await new Promise<void>((r) => slotFreed.push(r));
      // Due before the bound but never started: not completed.
      if (deadline.signal.aborted) {
        outcomes.push({ connected: false, completed: false, reconnects: 0, error: 'timeout' });
        continue;
      }
      launched++;
      launch(k);
    }
    await Promise.all(all);
    clearTimeout(boundTimer);
    clearInterval(progress);
    const wallMs = performance.now() - t0;
    const clientCpuMs = cpuMs(cpu0).ms;
    const attempted = outcomes.length;
    const connected = outcomes.filter((o) => o.connected).length;
    const completed = outcomes.filter((o) => o.completed).length;
    const errorsByClass: Record<string, number> = {};
    for (const o of outcomes) if (o.error) errorsByClass[o.error] = (errorsByClass[o.error] ?? 0) + 1;
    // Timeouts at the bound are incompletion, not errors of the server's.
    const errored = outcomes.filter((o) => o.error && o.error !== 'timeout').length;
    const summary: LoadSummary = {
      concurrency: n,
      durationS,
      intervalMs: round(intervalMs, 2),
      attempted,
      connected,
      completed,
      maxInFlight,
      reconnects: outcomes.reduce((a, o) => a + o.reconnects, 0),
      events: counter.events,
      eventsPerSecond: round(counter.events / (wallMs / 1_000)),
      wallMs: round(wallMs),
      ttftMs: percentiles(ttft.values()),
      interTokenMs: percentiles(gaps.values()),
      errorsByClass,
      successRate: round(completed / attempted, 4),
      completionRate: round(completed / attempted, 4),
      connectionSuccessRate: round(connected / attempted, 4),
      errorRate: round(errored / attempted, 4),
      clientCpuMs: round(clientCpuMs),
      clientCores: round(clientCpuMs / wallMs, 3),
    };
    ctx.loadSummary = summary;
    const t = ctx.thresholds;
    out.set('attempted', attempted);
    out.set('maxInFlight', maxInFlight);
    out.set('eventsPerSecond', summary.eventsPerSecond);
    out.set('clientCores', summary.clientCores);
    out.set('reconnects', summary.reconnects);
    out.set('ttftP50Ms', summary.ttftMs.p50);
    out.set('interTokenP50Ms', summary.interTokenMs.p50);
    const checks: [boolean, string][] = [
      [out.within('ttftP95Ms', summary.ttftMs.p95, { max: t.ttftMs }), `TTFT p95 ${summary.ttftMs.p95} ms ≥ ${t.ttftMs} ms`],
      [
        out.within('interTokenP95Ms', summary.interTokenMs.p95, { max: t.interTokenMs }),
        `inter-token p95 ${summary.interTokenMs.p95} ms ≥ ${t.interTokenMs} ms`,
      ],
      [
        out.within('errorRate', summary.errorRate, { max: t.errorRate }),
        `error rate ${round(summary.errorRate * 100, 2)} % ≥ ${t.errorRate * 100} % (${Object.entries(errorsByClass)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')})`,
      ],
      [
        out.within('completionRate', summary.completionRate, { min: t.completionRate }),
        `completion ${round(summary.completionRate * 100, 2)} % ≤ ${t.completionRate * 100} %`,
      ],
      [
        out.within('connectionSuccessRate', summary.connectionSuccessRate, { min: t.connectionSuccessRate }),
        `connection success ${round(summary.connectionSuccessRate * 100, 2)} % ≤ ${t.connectionSuccessRate * 100} %`,
      ],
    ];
    const figures = `${attempted} streams (${maxInFlight} in flight at most) in ${round(wallMs / 1_000)} s: ${completed} completed, TTFT p50/p95/p99 ${summary.ttftMs.p50}/${summary.ttftMs.p95}/${summary.ttftMs.p99} ms, inter-token ${summary.interTokenMs.p50}/${summary.interTokenMs.p95}/${summary.interTokenMs.p99} ms, ${summary.eventsPerSecond} events/s; client CPU ${summary.clientCores} cores`;
    const failed = checks.filter(([ok]) => !ok).map(([, why]) => why);
    return failed.length ? fail(`${failed.join('; ')} — ${figures}`) : pass(figures);
  },
};
