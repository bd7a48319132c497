/**
 * Publish-to-receive latencies recorded where they arrive (each client process) and merged in
 * the bench: counts per bucket add up exactly, so percentiles come from all the samples, not
 * from an average of per-process percentiles. 10-µs buckets below 100 ms, 1-ms buckets to 60 s.
 */
const FINE_MS = 100;
const FINE_PER_MS = 100;
const FINE = FINE_MS * FINE_PER_MS;
const BUCKETS = FINE + 60_000;

const bucketOf = (ms) => (ms < FINE_MS ? Math.floor(Math.max(0, ms) * FINE_PER_MS) : Math.min(BUCKETS - 1, FINE + Math.floor(ms - FINE_MS)));
/** A bucket's midpoint, in ms. */
const midpointOf = (i) => (i < FINE ? (i + 0.5) / FINE_PER_MS : FINE_MS + (i - FINE) + 0.5);

export class LatencyHistogram {
  constructor() {
    this.counts = new Uint32Array(BUCKETS);
    this.count = 0;
    this.max = 0;
  }

  record(ms) {
    this.counts[bucketOf(ms)]++;
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  /** Sparse form for IPC: [bucket, count] pairs of the non-empty buckets. */
  toJSON() {
    const pairs = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]) pairs.push(i, this.counts[i]);
    return { pairs, max: this.max };
  }

  add({ pairs, max }) {
    for (let k = 0; k < pairs.length; k += 2) {
      this.counts[pairs[k]] += pairs[k + 1];
      this.count += pairs[k + 1];
    }
    if (max > this.max) this.max = max;
    return this;
  }

  /** Nearest-rank percentile (bucket midpoint), NaN when empty. */
  percentile(p) {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(midpointOf(i), this.max);
    }
    return this.max;
  }

  summary() {
    return { count: this.count, p50: this.percentile(50), p99: this.percentile(99), max: this.count ? this.max : NaN };
  }
}
