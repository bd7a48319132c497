export interface StoreLogger {
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

/** What one batch attempt did (for metrics and tests). */
export interface BatchInfo {
  items: number;
  rows: number;
  ok: boolean;
  durationMs: number;
  /** Consecutive failures so far, this one included; 0 when ok. */
  failures: number;
  error?: unknown;
}

export interface WriteQueueOptions<T> {
  /** Applies a batch atomically (one transaction); throwing leaves the whole batch queued. */
  apply(batch: T[]): Promise<void>;
  /**
   * Applies a batch synchronously when it can (SQLite), returning false when it cannot right
   * now (then `apply` is used); throwing leaves the whole batch queued, as `apply` does.
   */
  applySync?: ((batch: T[]) => boolean) | undefined;
  /** Rows an item writes; batches are cut by rows. */
  rowsOf(item: T): number;
  /** Rough bytes an item holds while queued (the memory budget counts them). */
  bytesOf?: ((item: T) => number) | undefined;
  flushIntervalMs: number;
  batchSize: number;
  logger?: StoreLogger | undefined;
  onBatch?: ((info: BatchInfo) => void) | undefined;
  /** First retry delay after a failed batch; doubles per failure up to maxRetryMs. */
  minRetryMs?: number | undefined;
  maxRetryMs?: number | undefined;
  /** Group commit: once someone waits for a commit, the next batch starts after at most this long. */
  commitDelayMs?: number | undefined;
}

export class QueueClosedError extends Error {
  constructor() {
    super('The store is closed; no more writes are accepted.');
    this.name = 'QueueClosedError';
  }
}

/**
 * Ordered, batched writes off the caller's path. Items are applied strictly in the order they
 * were pushed, a batch at a time; a failed batch stays at the head and is retried with
 * backoff, so nothing is dropped or reordered while the process runs.
 */
export class WriteQueue<T> {
  private readonly items: T[] = [];
  /** Bytes of each queued item, as counted when it was queued. */
  private readonly sizes: number[] = [];
  /** Keyed items still queued: key → the item's number (items[number - applied]), in ascending numbers. */
  private readonly keyed = new Map<string, number>();
  /** Items at the head taken by the batch being written (never replaced). */
  private taken = 0;
  private rows = 0;
  private bytes = 0;
  private pushed = 0;
  /** Callers of committed(), in order of their target (pushed only grows). */
  private readonly waiters: { target: number; resolve(): void; reject(err: Error): void }[] = [];
  private applied = 0;
  private failures = 0;
  /** The next attempt: a timeout, or (delay 0) an immediate, which skips the timers' 1 ms floor. */
  private timer: { cancel(): void } | undefined;
  private timerIsImmediate = false;
  private inFlight: Promise<void> | undefined;
  private closed = false;
  private readonly minRetryMs: number;
  private readonly maxRetryMs: number;

  constructor(private readonly opts: WriteQueueOptions<T>) {
    this.minRetryMs = opts.minRetryMs ?? 100;
    this.maxRetryMs = opts.maxRetryMs ?? 30_000;
  }

  /** Rows waiting to be written. */
  get pendingRows(): number {
    return this.rows;
  }

  /** Rough bytes held by queued items. */
  get pendingBytes(): number {
    return this.bytes;
  }

  assertOpen(): void {
    if (this.closed) throw new QueueClosedError();
  }

  /**
   * Queues an item. With a `key`, an item of that key still waiting (not yet taken by a batch)
   * is replaced in place instead: a checkpoint supersedes the one before it.
   */
  push(item: T, key?: string): void {
    this.assertOpen();
    const size = this.opts.bytesOf?.(item) ?? 0;
    const queued = key === undefined ? undefined : this.keyed.get(key);
    const index = queued === undefined ? -1 : queued - this.applied;
    if (index >= this.taken && index < this.items.length) {
      this.rows += this.opts.rowsOf(item) - this.opts.rowsOf(this.items[index]!);
      this.bytes += size - this.sizes[index]!;
      this.items[index] = item;
      this.sizes[index] = size;
      return;
    }
    if (key !== undefined) {
      this.keyed.delete(key); // re-inserted last: the map stays in ascending item numbers
      this.keyed.set(key, this.pushed);
    }
    this.items.push(item);
    this.sizes.push(size);
    this.rows += this.opts.rowsOf(item);
    this.bytes += size;
    this.pushed += 1;
    this.schedule();
  }

  /**
   * Resolves once everything pushed so far is committed (group commit: callers arriving
   * together share one transaction). Unlike flush() it does not fail with a batch: a failing
   * database is retried in the background and this waits for the retry that succeeds. Rejects
   * only if the queue is closed with those items unwritten.
   */
  committed(): Promise<void> {
    const target = this.pushed;
    if (this.applied >= target) return Promise.resolve();
    // Idle and allowed to commit at once: do it on this tick rather than the next turn of the
    // event loop, where everything else queued meanwhile would run first. (Deferring a waiter that
    // came within 1 ms of the last commit to the next turn's shared batch was tried: 5× fewer
    // transactions at 50 concurrent comparisons, but no throughput gain and a worse p99.)
    if (this.opts.applySync && !this.opts.commitDelayMs && this.failures === 0 && !this.inFlight) {
      try {
        while (this.applied < target && this.applyHeadSync());
      } catch {
        // Logged by applyHeadSync, which also scheduled the retry; wait for it below.
      }
      if (this.applied >= target) return Promise.resolve();
    }
    const waiting = new Promise<void>((resolve, reject) => this.waiters.push({ target, resolve, reject }));
    // While failing, the backoff timer owns the next attempt.
    if (this.failures === 0 && !(this.timer && this.timerIsImmediate)) {
      this.setTimer(this.opts.commitDelayMs ?? 0, true);
    }
    return waiting;
  }

  /**
   * Resolves once everything pushed before the call is written. Rejects if a batch attempt
   * fails (the batch stays queued and keeps being retried in the background), so readers get
   * an error instead of waiting on a broken database.
   */
  async flush(): Promise<void> {
    const target = this.pushed;
    while (this.applied < target) await this.attempt();
  }

  /**
   * Stops accepting writes and writes everything queued, retrying failures until `timeoutMs`
   * has passed. Returns the rows given up on (0 unless the database stayed broken).
   */
  async close(timeoutMs: number): Promise<number> {
    this.closed = true;
    const deadline = Date.now() + timeoutMs;
    while (this.items.length > 0) {
      try {
        await this.attempt();
      } catch {
        const left = deadline - Date.now();
        if (left <= 0) break;
        await new Promise((resolve) => setTimeout(resolve, Math.min(this.retryDelay(), left)));
      }
    }
    this.clearTimer();
    const lost = this.rows;
    for (const w of this.waiters.splice(0)) w.reject(new QueueClosedError());
    if (lost > 0) {
      // Shutting down with the database still failing: the only alternative is never exiting.
      this.opts.logger?.error({ rows: lost, items: this.items.length }, 'store closed with unwritten rows; they are lost');
      this.items.length = 0;
      this.sizes.length = 0;
      this.keyed.clear();
      this.rows = 0;
      this.bytes = 0;
    }
    return lost;
  }

  private schedule(): void {
    // While failing, the backoff timer owns the next attempt.
    if (this.failures > 0) return;
    const immediate = this.rows >= this.opts.batchSize;
    if (this.timer) {
      if (!immediate || this.timerIsImmediate) return;
      this.timer.cancel();
    }
    this.setTimer(immediate ? 0 : this.opts.flushIntervalMs, immediate);
  }

  private setTimer(delayMs: number, immediate: boolean): void {
    this.clearTimer();
    this.timerIsImmediate = immediate;
    const fire = () => {
      this.timer = undefined;
      void this.drain();
    };
    if (delayMs === 0) {
      const handle = setImmediate(fire);
      this.timer = { cancel: () => clearImmediate(handle) };
    } else {
      const handle = setTimeout(fire, delayMs);
      this.timer = { cancel: () => clearTimeout(handle) };
    }
  }

  private clearTimer(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private async drain(): Promise<void> {
    try {
      while (this.items.length > 0) await this.attempt();
    } catch {
      // Logged by attempt(), which also scheduled the retry.
    }
  }

  /** One batch at a time: a caller arriving mid-attempt shares that attempt's outcome. */
  private attempt(): Promise<void> {
    this.inFlight ??= this.applyHead().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async applyHead(): Promise<void> {
    if (this.items.length === 0) return;
    const head = this.takeHead();
    try {
      if (!this.opts.applySync?.(head.batch)) await this.opts.apply(head.batch);
    } catch (error) {
      this.failed(head, error);
      throw error;
    }
    this.succeeded(head);
  }

  /** One batch applied now; false when applySync cannot run at the moment (nothing changed). */
  private applyHeadSync(): boolean {
    const head = this.takeHead();
    let done: boolean;
    try {
      done = this.opts.applySync!(head.batch);
    } catch (error) {
      this.failed(head, error);
      throw error;
    }
    if (!done) {
      this.taken = 0;
      return false;
    }
    this.succeeded(head);
    return true;
  }

  private takeHead(): { batch: T[]; rows: number; started: number } {
    let count = 0;
    let rows = 0;
    while (count < this.items.length && (count === 0 || rows + this.opts.rowsOf(this.items[count]!) <= this.opts.batchSize)) {
      rows += this.opts.rowsOf(this.items[count]!);
      count += 1;
    }
    this.taken = count;
    return { batch: this.items.slice(0, count), rows, started: performance.now() };
  }

  private failed(head: { batch: T[]; rows: number; started: number }, error: unknown): void {
    const {
      batch: { length: count },
      rows,
    } = head;
    this.taken = 0;
    this.failures += 1;
    const retryInMs = this.retryDelay();
    if (!this.closed) this.setTimer(retryInMs, false);
    this.opts.logger?.warn({ err: error, items: count, rows, failures: this.failures, retryInMs }, 'store write batch failed; will retry');
    this.opts.onBatch?.({ items: count, rows, ok: false, durationMs: performance.now() - head.started, failures: this.failures, error });
  }

  private succeeded(head: { batch: T[]; rows: number; started: number }): void {
    const {
      batch: { length: count },
      rows,
    } = head;
    this.taken = 0;
    this.items.splice(0, count);
    for (const size of this.sizes.splice(0, count)) this.bytes -= size;
    this.rows -= rows;
    this.applied += count;
    for (const [key, number] of this.keyed) {
      if (number >= this.applied) break; // ascending: the rest are still queued
      this.keyed.delete(key);
    }
    while (this.waiters.length > 0 && this.waiters[0]!.target <= this.applied) this.waiters.shift()!.resolve();
    if (this.failures > 0) {
      // Recovered (perhaps by a flush): don't leave the rest waiting on a long backoff timer.
      this.failures = 0;
      this.clearTimer();
      if (this.items.length > 0 && !this.closed) this.schedule();
    }
    this.opts.onBatch?.({ items: count, rows, ok: true, durationMs: performance.now() - head.started, failures: 0 });
  }

  private retryDelay(): number {
    const exponent = Math.max(0, Math.min(this.failures - 1, 20));
    return Math.min(this.maxRetryMs, this.minRetryMs * 2 ** exponent);
  }
}
