import type { Config } from '../config/schema.js';
import type { RealtimeMetrics } from '../realtime/metrics.js';
import type { OpsSignals } from './signals.js';
import { GrowthWindow, percentile } from './windows.js';

export type AlertState = 'ok' | 'firing' | 'resolved';

export interface AlertStatus {
  name: string;
  description: string;
  state: AlertState;
  /** The rule's current reading (null: not enough data in the window). */
  value: number | null;
  threshold: number;
  unit: string;
  /** When the state last changed (ISO). */
  since: string | null;
}

interface Rule {
  name: string;
  description: string;
  unit: string;
  threshold: number;
  /** The reading, or null when the window holds too little to judge. */
  read(now: number): number | null;
  /** Fires above the threshold, or below it. */
  below?: boolean;
}

export type AlertListener = (alert: AlertStatus) => void;

/**
 * The seeds' alert rules, evaluated every `evaluateIntervalMs` over a sliding window. A rule
 * fires when its reading crosses the threshold and resolves when a reading comes back within it;
 * a window with too few samples to judge leaves the state as it is. Transitions go to listeners
 * (webhook, log, dashboard).
 */
export class Alerts {
  private readonly rules: Rule[];
  private readonly states = new Map<string, { state: AlertState; since: string | null; value: number | null }>();
  private readonly listeners = new Set<AlertListener>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: Config['ops']['alerts'],
    signals: OpsSignals,
    realtime: RealtimeMetrics,
    memory: () => number = () => process.memoryUsage().rss,
  ) {
    const windowMs = config.windowSeconds * 1000;
    const grow = () => new GrowthWindow(windowMs);
    const ok = grow();
    const errors = grow();
    const attempts = grow();
    const successes = grow();
    const rateLimited = new GrowthWindow(3_600_000);
    const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
    const p95 = (sorted: ArrayLike<number>) => (sorted.length >= config.minSamples ? percentile(sorted, 95) : null);
    this.rules = [
      {
        name: 'ttft_gateway_added_p95',
        unit: 'ms',
        threshold: config.gatewayAddedP95Ms,
        description: `Gateway-added first-token latency p95 above ${config.gatewayAddedP95Ms} ms`,
        read: (now) => p95(signals.addedMs.sorted(now)),
      },
      {
        name: 'ttft_p95',
        unit: 'ms',
        threshold: config.ttftP95Ms,
        description: `End-to-end time to first token p95 above ${config.ttftP95Ms} ms`,
        read: (now) => p95(signals.ttftMs.sorted(now)),
      },
      {
        name: 'error_rate',
        unit: '%',
        threshold: config.errorRatePercent,
        description: `Model runs failing above ${config.errorRatePercent} %`,
        read: (now) => {
          const good = ok.read(signals.totals.ok, now);
          const bad = errors.read(signals.totals.errors, now);
          return good + bad >= config.minSamples ? (100 * bad) / (good + bad) : null;
        },
      },
      {
        name: 'connection_success',
        unit: '%',
        threshold: config.connectionSuccessPercent,
        below: true,
        description: `Realtime connection success below ${config.connectionSuccessPercent} %`,
        read: (now) => {
          const tried = attempts.read(sum(realtime.attempts), now);
          const made = successes.read(sum(realtime.successes), now);
          return tried >= config.minSamples ? Math.min(100, (100 * made) / tried) : null;
        },
      },
      {
        name: 'rate_limit_violations',
        unit: '/h',
        threshold: config.rateLimitViolationsPerHour,
        description: `Rate-limit rejections above ${config.rateLimitViolationsPerHour} per hour`,
        read: (now) => rateLimited.read(signals.totals.rateLimited, now),
      },
    ];
    const limit = config.memoryLimitBytes;
    if (limit) {
      this.rules.push({
        name: 'memory',
        unit: '%',
        threshold: config.memoryPercent,
        description: `Resident memory above ${config.memoryPercent} % of ${Math.round(limit / 1_048_576)} MiB`,
        read: () => (100 * memory()) / limit,
      });
    }
    for (const r of this.rules) this.states.set(r.name, { state: 'ok', since: null, value: null });
  }

  start(): void {
    this.timer = setInterval(() => this.evaluate(), this.config.evaluateIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  onChange(listener: AlertListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  evaluate(now = Date.now()): void {
    for (const rule of this.rules) {
      const value = rule.read(now);
      const s = this.states.get(rule.name)!;
      s.value = value === null ? null : Math.round(value * 100) / 100;
      if (value === null) continue; // too little to judge: the state stands until evidence changes it
      const breached = rule.below ? value < rule.threshold : value > rule.threshold;
      const next: AlertState | undefined = breached && s.state !== 'firing' ? 'firing' : !breached && s.state === 'firing' ? 'resolved' : undefined;
      if (!next) continue;
      s.state = next;
      s.since = new Date(now).toISOString();
      const status = this.status(rule);
      for (const l of this.listeners) l(status);
    }
  }

  list(): AlertStatus[] {
    return this.rules.map((r) => this.status(r));
  }

  private status(rule: Rule): AlertStatus {
    const s = this.states.get(rule.name)!;
    return { name: rule.name, description: rule.description, state: s.state, value: s.value, threshold: rule.threshold, unit: rule.unit, since: s.since };
  }
}

/** Posts each transition as JSON; a failing receiver is reported, never retried into a backlog. */
export function alertWebhook(url: string, onError: (err: unknown) => void): AlertListener {
  return (alert) => {
    fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ source: 'tributary', at: new Date().toISOString(), alert }),
      signal: AbortSignal.timeout(5_000),
    }).then((res) => {
      void res.body?.cancel();
      if (!res.ok) onError(new Error(`alert webhook answered ${res.status}`));
    }, onError);
  };
}
