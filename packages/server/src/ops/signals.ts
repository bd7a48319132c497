import type { StreamSignals } from './metrics.js';
import { SampleWindow } from './windows.js';

/**
 * The streams' recent history for alerts and the dashboard: latency samples over the window,
 * and cumulative counts (read into growth windows at each tick).
 */
export class OpsSignals implements StreamSignals {
  readonly ttftMs: SampleWindow;
  readonly addedMs: SampleWindow;
  readonly totals = { ok: 0, errors: 0, cancelled: 0, tokens: 0, rateLimited: 0, reconnects: 0 };
  /** Errors by classification since start (bounded: error codes are a closed set). */
  readonly errorsByCode = new Map<string, number>();
  /** model → runs and errors since start, for the dashboard's per-model table. */
  readonly models = new Map<string, { runs: number; errors: number; lastTtftMs: number | null }>();

  constructor(windowMs: number) {
    this.ttftMs = new SampleWindow(windowMs);
    this.addedMs = new SampleWindow(windowMs);
  }

  ttft(model: string, seconds: number): void {
    this.ttftMs.add(seconds * 1000);
    this.model(model).lastTtftMs = Math.round(seconds * 1000);
  }

  added(seconds: number): void {
    this.addedMs.add(seconds * 1000);
  }

  outcome(model: string, ok: boolean, code: string): void {
    const m = this.model(model);
    m.runs++;
    if (ok) this.totals.ok++;
    else if (code === 'cancelled')
      this.totals.cancelled++; // the client's choice, not a failure
    else {
      this.totals.errors++;
      m.errors++;
      this.errorsByCode.set(code, (this.errorsByCode.get(code) ?? 0) + 1);
    }
  }

  tokens(count: number): void {
    this.totals.tokens += count;
  }

  resumed(): void {
    this.totals.reconnects++;
  }

  /** The hook identity's rate limiter calls on each rejection. */
  rateLimited(): void {
    this.totals.rateLimited++;
  }

  private model(model: string) {
    let m = this.models.get(model);
    if (!m) this.models.set(model, (m = { runs: 0, errors: 0, lastTtftMs: null }));
    return m;
  }
}
