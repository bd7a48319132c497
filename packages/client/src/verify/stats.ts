import type { Percentiles } from './types.js';

/** Nearest-rank percentiles of a sample (null when it is empty). */
export function percentiles(values: ArrayLike<number>): Percentiles {
  const sorted = Float64Array.from(values).sort();
  const at = (p: number) => (sorted.length === 0 ? null : round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!));
  return { count: sorted.length, p50: at(50), p95: at(95), p99: at(99), max: sorted.length ? round(sorted[sorted.length - 1]!) : null };
}

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function median(values: number[]): number | null {
  return percentiles(values).p50;
}
