import type { Registry } from 'prom-client';

/** One labelled series: its holder observes into it directly (no label hashing per observation). */
export class HistogramSeries {
  /** Per bucket (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    private readonly bounds: readonly number[],
    readonly labels: Record<string, string>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/**
 * A Prometheus histogram for hot paths: callers keep the series they observe into, and
 * prom-client's registry renders it (`get()` answers in the shape its own histograms do).
 * prom-client's `labels(...).observe()` hashes the label set on every call; at one observation
 * per token that cost showed in the fan-out benchmark.
 */
export class SeriesHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly all = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The series of these label values (in `labelNames` order), created on first use. */
  series(...values: string[]): HistogramSeries {
    const key = values.join('\u0000');
    let s = this.all.get(key);
    if (!s) {
      s = new HistogramSeries(this.bounds, Object.fromEntries(this.labelNames.map((n, i) => [n, values[i]!])));
      this.all.set(key, s);
    }
    return s;
  }

  /** Bucket counts summed over every series (for percentiles over an interval: subtract two of these). */
  totals(): Float64Array {
    const totals = new Float64Array(this.bounds.length + 1);
    for (const s of this.all.values()) for (let i = 0; i < totals.length; i++) totals[i]! += s.counts[i]!;
    return totals;
  }

  /** The upper bound of the bucket holding the p-th percentile of `counts` (null when empty; Infinity past the last bound). */
  percentileOf(counts: Float64Array, p: number): number | null {
    const count = counts.reduce((a, b) => a + b, 0);
    if (count === 0) return null;
    const rank = Math.ceil((p / 100) * count);
    let acc = 0;
    for (let i = 0; i < counts.length; i++) {
      acc += counts[i]!;
      if (acc >= rank) return i < this.bounds.length ? this.bounds[i]! : Infinity;
    }
    return null;
  }

  get() {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    for (const s of this.all.values()) {
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += s.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le }, value: acc });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
