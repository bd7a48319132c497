export interface BackoffOptions {
  /** First delay (ms). */
  initialMs?: number;
  /** Cap on any delay (ms). */
  maxMs?: number;
  factor?: number;
}

/** Exponential backoff with full jitter (random in [0, min(cap, initial·factor^n)]), so reconnect storms spread out. */
export class Backoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;

  constructor(
    opts: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.initialMs = opts.initialMs ?? 500;
    this.maxMs = opts.maxMs ?? 30_000;
    this.factor = opts.factor ?? 2;
  }

  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * this.factor ** this.attempt);
    this.attempt++;
    return Math.round(this.random() * ceiling);
  }

  reset(): void {
    this.attempt = 0;
  }
}
