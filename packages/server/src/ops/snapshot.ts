import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { RealtimeMetrics } from '../realtime/metrics.js';
import type { StreamHub } from '../streams/hub.js';
import type { Alerts, AlertStatus } from './alerts.js';
import type { Flags, FlagRule } from './flags.js';
import type { JobGauges } from './metrics.js';
import type { SeriesHistogram } from './series-histogram.js';
import type { OpsSignals } from './signals.js';
import { percentile } from './windows.js';

/** The hub topic of the dashboard's feed. Not a realtime channel name: only the admin route reads it. */
export const OPS_TOPIC = 'ops:metrics';

export interface OpsSnapshot {
  at: number;
  ttftMs: { p50: number | null; p95: number | null; p99: number | null; samples: number };
  /** Upper bounds of the histogram buckets holding them, over the last interval. */
  gapMs: { p50: number | null; p95: number | null; p99: number | null };
  addedMsP95: number | null;
  errorRatePercent: number | null;
  errorsByCode: Record<string, number>;
  tokensPerSecond: number;
  eventsPerSecond: number;
  connections: Record<string, number>;
  connectionAttempts: number;
  connectionSuccesses: number;
  reconnects: number;
  rateLimited: number;
  memory: { rssBytes: number; heapUsedBytes: number };
  eventLoopDelayMsP99: number;
  models: Array<{ model: string; runs: number; errors: number; lastTtftMs: number | null }>;
  /** The job queue (null when it could not be read this time). */
  jobs: { queuedItems: number; runningItems: number; activeJobs: number } | null;
  flags: Array<{ name: string } & FlagRule>;
  alerts: AlertStatus[];
}

/**
 * Publishes a snapshot of the server's health to `ops:metrics` on the hub every interval: the
 * dashboard subscribes (and gets the recent ones from history to draw its charts at once).
 */
export class OpsSnapshots {
  private timer: NodeJS.Timeout | undefined;
  private readonly loop: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  private last: { at: number; tokens: number; events: number; gaps: Float64Array } = { at: Date.now(), tokens: 0, events: 0, gaps: new Float64Array(0) };

  constructor(
    private readonly deps: {
      hub: StreamHub;
      signals: OpsSignals;
      realtime: RealtimeMetrics;
      flags: Flags;
      alerts: Alerts;
      gaps?: SeriesHistogram | undefined;
      jobs?: (() => Promise<JobGauges>) | undefined;
    },
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.loop.enable();
    this.timer = setInterval(() => void this.publish().catch(() => undefined), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.loop.disable();
  }

  async publish(): Promise<OpsSnapshot> {
    const jobs = this.deps.jobs ? await this.deps.jobs().catch(() => null) : null;
    const snapshot = this.take(Date.now(), jobs);
    await this.deps.hub.publish(OPS_TOPIC, 'ops.snapshot', snapshot);
    return snapshot;
  }

  take(now = Date.now(), jobs: JobGauges | null = null): OpsSnapshot {
    const { signals, realtime, flags, alerts } = this.deps;
    const ttft = signals.ttftMs.sorted(now);
    // Inter-token gaps: one per token, so from the histogram's buckets over the interval (no per-token window).
    const gaps = this.deps.gaps?.totals() ?? new Float64Array(0);
    const interval = gaps.map((n, i) => n - (this.last.gaps[i] ?? 0));
    const gap = (p: number) => {
      const v = this.deps.gaps?.percentileOf(interval, p) ?? null;
      return v === null || v === Infinity ? null : v * 1000;
    };
    const seconds = Math.max(0.001, (now - this.last.at) / 1000);
    const events = realtime.eventsDelivered;
    const alertList = alerts.list();
    const snapshot: OpsSnapshot = {
      at: now,
      ttftMs: { p50: round(percentile(ttft, 50)), p95: round(percentile(ttft, 95)), p99: round(percentile(ttft, 99)), samples: ttft.length },
      gapMs: { p50: round(gap(50)), p95: round(gap(95)), p99: round(gap(99)) },
      addedMsP95: round(percentile(signals.addedMs.sorted(now), 95)),
      // The alert's reading: over the same sliding window the rule judges.
      errorRatePercent: alertList.find((a) => a.name === 'error_rate')?.value ?? null,
      errorsByCode: Object.fromEntries(signals.errorsByCode),
      tokensPerSecond: round((signals.totals.tokens - this.last.tokens) / seconds)!,
      eventsPerSecond: round((events - this.last.events) / seconds)!,
      connections: {
        websocket: realtime.activeBy('websocket'),
        seed: realtime.activeBy('seed'),
        sse: realtime.activeBy('sse'),
        poll: realtime.activeBy('poll'),
      },
      connectionAttempts: sum(realtime.attempts),
      connectionSuccesses: sum(realtime.successes),
      reconnects: signals.totals.reconnects,
      rateLimited: signals.totals.rateLimited,
      memory: { rssBytes: process.memoryUsage.rss(), heapUsedBytes: process.memoryUsage().heapUsed },
      eventLoopDelayMsP99: round(this.loop.percentile(99) / 1e6) ?? 0,
      models: [...signals.models].map(([model, m]) => ({ model, ...m })),
      jobs: jobs && { queuedItems: jobs.queuedItems, runningItems: jobs.runningItems, activeJobs: (jobs.jobs.queued ?? 0) + (jobs.jobs.running ?? 0) },
      flags: flags.list(),
      alerts: alertList,
    };
    this.loop.reset();
    this.last = { at: now, tokens: signals.totals.tokens, events, gaps };
    return snapshot;
  }
}

const round = (v: number | null) => (v === null || Number.isNaN(v) ? null : Math.round(v * 100) / 100);
const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
