/** Percentile (nearest-rank) of an ascending-sorted typed array or array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** p50/p99/max/min/mean of numbers (copied into a Float64Array and sorted). */
export function summarize(values) {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    min: sorted[0] ?? NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted[sorted.length - 1] ?? NaN,
    mean: sorted.length ? sum / sorted.length : NaN,
  };
}

export const round = (x, digits = 3) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);

/** monitorEventLoopDelay records whole timer intervals: delay = sample − resolution (ms). */
export function eldStats(histogram, resolutionMs) {
  const excess = (ns) => Math.max(0, ns / 1e6 - resolutionMs);
  return { p50: excess(histogram.percentile(50)), p99: excess(histogram.percentile(99)), max: excess(histogram.max), samples: histogram.count };
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
}
