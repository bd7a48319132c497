import { randomBytes } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { runModel, type ModelState } from '../compare/model-run.js';
import type { ComparisonEvents } from '../compare/events.js';
import type { ModelCatalogue } from '../llm/catalogue.js';
import type { ChatMessage } from '../llm/provider.js';
import type { StreamHub } from '../streams/hub.js';
import { emptyCounts, type ClaimedItem, type ItemOutcome, type JobQueue } from './job-queue.js';
import type { JobStore } from './job-store.js';
import { backoffMs, itemError, shouldRetry } from './retry-policy.js';
import { jobTopic, type JobEvents, type JobRecord, type JobStatus, type Progress, type StateCounts } from './types.js';

export type JobsConfig = Config['jobs'];

type Prompt = { prompt: string; system: string | null };

interface ActiveJob {
  record: JobRecord;
  /** Claimed (leased) items not started yet, per model. */
  ready: Map<string, { item: ClaimedItem; prompt: Prompt | undefined }[]>;
  /** Models whose last claim came back short: not asked again until the next poll. */
  exhausted: Set<string>;
  /** Models with a claim on its way. */
  claiming: Set<string>;
  /** Rotates which model is served first, so models share the slots. */
  turn: number;
  running: number;
  counts: StateCounts;
  /** Items this node finished since it took the job up, and when: the ETA's rate. */
  finishedHere: number;
  since: number;
  lastProgress: number;
  progressTimer: NodeJS.Timeout | undefined;
}

interface InFlight {
  jobId: string;
  abort: AbortController;
}

/** Progress as every reader sees it: done = succeeded + failed + cancelled. */
export function progressOf(counts: StateCounts, total: number, rate?: { finished: number; elapsedMs: number }): Progress {
  const finished = counts.succeeded + counts.failed + counts.cancelled;
  const remaining = total - finished;
  const perMs = rate && rate.finished > 0 && rate.elapsedMs > 0 ? rate.finished / rate.elapsedMs : 0;
  return {
    completed: counts.succeeded,
    failed: counts.failed,
    cancelled: counts.cancelled,
    total,
    percent: total === 0 ? 100 : Math.floor((finished / total) * 1000) / 10,
    etaMs: remaining === 0 ? 0 : perMs > 0 ? Math.round(remaining / perMs) : null,
  };
}

/** The final state of a job whose items have all ended. */
export function finalStatus(counts: StateCounts): JobStatus {
  if (counts.failed > 0) return 'failed';
  return counts.cancelled > 0 ? 'cancelled' : 'succeeded';
}

/**
 * The worker pool: claims leased items of active jobs within the global, per-job and
 * per-provider limits, runs each through the comparison's `runModel`, writes its result with
 * its state change (group-committed per tick), then publishes `job.item` / `job.progress` /
 * `job.done` to the job's topic.
 */
export class JobRunner {
  readonly worker = `w_${randomBytes(6).toString('base64url')}`;
  private readonly active = new Map<string, ActiveJob>();
  private readonly inflight = new Map<string, InFlight>();
  private readonly perProvider = new Map<string, number>();
  private running = 0;
  private filling = false;
  private refreshing = false;
  private refreshAgain = false;
  /** Jobs aborted since the current refresh read the active list: it must not take them up again. */
  private abortedDuringRefresh = new Set<string>();
  private again = false;
  private closed = false;
  private pending: { item: ClaimedItem; outcome: ItemOutcome }[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  /** Group commits in progress. */
  private writing = 0;
  /** Claims on their way. */
  private claims = 0;
  private poller: NodeJS.Timeout | undefined;
  private renewer: NodeJS.Timeout | undefined;
  private idle: (() => void)[] = [];

  constructor(
    private readonly deps: {
      queue: JobQueue;
      store: JobStore;
      hub: StreamHub;
      catalogue: ModelCatalogue;
      config: JobsConfig;
      tiers: Config['compare']['tiers'];
      /** Embedded store: this process is the only worker, so items a crash left `running` are free at once. */
      singleNode: boolean;
      onError?: (err: unknown) => void;
    },
  ) {}

  /** Starts the pool; returns at once (work is taken up in the background). */
  async start(): Promise<void> {
    if (this.deps.singleNode) await this.deps.queue.releaseAll();
    this.poller = setInterval(() => this.wake(), this.deps.config.pollMs);
    this.poller.unref();
    const renewEvery = Math.max(50, Math.floor(this.deps.config.leaseMs / 3));
    this.renewer = setInterval(() => {
      // Buffered (claimed, not started) items hold leases too.
      if (this.inflight.size > 0 || [...this.active.values()].some((job) => this.buffered(job) > 0))
        void this.deps.queue.renew(this.worker, this.deps.config.leaseMs).catch((err) => this.deps.onError?.(err));
    }, renewEvery);
    this.renewer.unref();
    this.wake();
  }

  /** Takes up a new or re-queued job now instead of at the next poll. */
  wake(): void {
    void this.refresh().catch((err) => this.deps.onError?.(err));
  }

  /** Aborts a job's in-flight provider calls (its rows were already marked cancelled). */
  abortJob(jobId: string): void {
    for (const [, f] of this.inflight) if (f.jobId === jobId) f.abort.abort();
    this.abortedDuringRefresh.add(jobId);
    const job = this.active.get(jobId);
    if (job) clearTimeout(job.progressTimer);
    this.active.delete(jobId);
  }

  /** The live progress of a job this node runs (counts as of its last write), else undefined. */
  liveProgress(jobId: string): Progress | undefined {
    const job = this.active.get(jobId);
    return job ? this.progress(job) : undefined;
  }

  /** Resolves when nothing is in flight (tests, bench). */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private isIdle(): boolean {
    return this.inflight.size === 0 && this.pending.length === 0 && this.writing === 0 && this.claims === 0;
  }

  private settleIdle(): void {
    if (this.isIdle()) for (const done of this.idle.splice(0)) done();
  }

  /** Stops claiming; aborts in-flight calls after `graceMs` (their items go back to the queue). */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    clearInterval(this.poller);
    clearInterval(this.renewer);
    const unstarted: string[] = [];
    for (const job of this.active.values()) {
      clearTimeout(job.progressTimer);
      for (const list of job.ready.values()) unstarted.push(...list.map((r) => r.item.id));
      job.ready.clear();
    }
    // Claimed but never started: back to the queue now, not when their leases run out.
    if (unstarted.length > 0) await this.deps.queue.release(this.worker, unstarted).catch((err) => this.deps.onError?.(err));
    const timer = setTimeout(() => {
      for (const f of this.inflight.values()) f.abort.abort('shutdown');
    }, graceMs);
    await this.whenIdle();
    clearTimeout(timer);
  }

  /** Takes up jobs that became active (new, re-queued, or left by a dead node), then fills. One at a time. */
  private async refresh(): Promise<void> {
    if (this.closed) return;
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = true;
    try {
      do {
        this.refreshAgain = false;
        this.abortedDuringRefresh.clear();
        await this.deps.queue.requeueExpired(this.worker);
        for (const record of await this.deps.store.active()) {
          if (this.abortedDuringRefresh.has(record.id)) continue; // read before its cancel committed
          const known = this.active.get(record.id);
          if (known) {
            known.record.status = record.status;
            known.exhausted.clear(); // items may have come due (backoff) or back (expired leases)
            continue;
          }
          const counts = await this.deps.queue.counts(record.id);
          if (this.abortedDuringRefresh.has(record.id)) continue;
          this.active.set(record.id, {
            record,
            ready: new Map(),
            exhausted: new Set(),
            claiming: new Set(),
            turn: 0,
            running: 0,
            counts,
            finishedHere: 0,
            since: Date.now(),
            lastProgress: 0,
            progressTimer: undefined,
          });
        }
      } while (this.refreshAgain && !this.closed);
    } finally {
      this.refreshing = false;
    }
    await this.fill();
  }

  private providerOf(model: string): string {
    return this.deps.catalogue.resolve(model)?.provider.id ?? 'unknown';
  }

  private providerLimit(provider: string): number {
    const { config } = this.deps;
    return config.providerConcurrency[provider] ?? config.defaultProviderConcurrency;
  }

  /**
   * Starts work until a limit is reached or nothing is runnable, from a per-model buffer of
   * claimed (leased) items, so a start needs no database round trip. A model's next batch
   * (`claimBatch`) is claimed while its buffer still feeds the slots: waiting for claims left
   * the pool a quarter idle at zero provider delay. A buffered item is leased like a running
   * one (a crash runs it again once). One fill at a time.
   */
  private async fill(): Promise<void> {
    if (this.filling) {
      this.again = true;
      return;
    }
    this.filling = true;
    try {
      do {
        this.again = false;
        for (const job of [...this.active.values()]) {
          if (this.closed) return;
          let started = 0;
          const models = job.record.models;
          const first = job.turn++ % models.length;
          for (let k = 0; k < models.length; k++) {
            const model = models[(first + k) % models.length]!;
            const provider = this.providerOf(model);
            const providerLimit = this.providerLimit(provider);
            const limit = Math.min(this.deps.config.concurrency, job.record.concurrency, providerLimit);
            const free = Math.min(
              this.deps.config.concurrency - this.running,
              job.record.concurrency - job.running,
              providerLimit - (this.perProvider.get(provider) ?? 0),
            );
            if (free <= 0) continue;
            const ready = job.ready.get(model); // claim() makes the buffer
            const take = ready ? ready.splice(0, free) : [];
            for (const { item, prompt } of take) this.launch(job, provider, item, prompt);
            started += take.length;
            if ((ready?.length ?? 0) < limit && !job.exhausted.has(model) && !job.claiming.has(model)) this.claimAhead(job, model, limit);
          }
          const quiet = job.running === 0 && this.buffered(job) === 0 && job.claiming.size === 0 && this.pending.length === 0 && this.writing === 0;
          if (started === 0 && quiet && this.active.has(job.record.id)) await this.maybeFinish(job);
        }
      } while (this.again && !this.closed);
    } finally {
      this.filling = false;
    }
  }

  /** Claims a model's next batch in the background; a fill follows when it is buffered. */
  private claimAhead(job: ActiveJob, model: string, limit: number): void {
    // A power of two: the database queue writes the limit into its SQL, so a few texts serve every claim.
    const want = 2 ** Math.ceil(Math.log2(Math.max(limit, this.deps.config.claimBatch)));
    job.claiming.add(model);
    this.claims++;
    void this.claim(job, model, want)
      .catch((err) => {
        job.exhausted.add(model); // not asked again until the next poll: no retry loop while the database fails
        this.deps.onError?.(err);
      })
      .finally(() => {
        job.claiming.delete(model);
        this.claims--;
        if (this.closed) this.settleIdle();
        else void this.fill().catch((err) => this.deps.onError?.(err));
      });
  }

  private async claim(job: ActiveJob, model: string, want: number): Promise<void> {
    const { queue, store, config } = this.deps;
    const items = await queue.claim(job.record.id, model, this.worker, want, config.leaseMs);
    // Closing: back to the queue now, not when their leases run out.
    if (this.closed) {
      const ids = items.map((i) => i.id);
      if (ids.length > 0) await queue.release(this.worker, ids);
      return;
    }
    if (this.active.get(job.record.id) !== job) return; // cancelled meanwhile: its rows are already cancelled
    if (items.length < want) job.exhausted.add(model);
    if (items.length === 0) return;
    if (job.record.status === 'queued') {
      job.record.status = 'running';
      await store.markRunning(job.record.id);
    }
    // The SQLite queue's claim brings the prompts along; the others' are looked up.
    const unknown = items.filter((i) => i.prompt === undefined).map((i) => i.promptIndex);
    const prompts = unknown.length > 0 ? await store.prompts(job.record.id, unknown) : undefined;
    // Cancelled during the awaits above (perhaps taken up again since, as a new entry): buffer nothing.
    if (this.active.get(job.record.id) !== job) return;
    let ready = job.ready.get(model);
    if (!ready) job.ready.set(model, (ready = []));
    for (const item of items) ready.push({ item, prompt: item.prompt ?? prompts?.get(item.promptIndex) });
  }

  private buffered(job: ActiveJob): number {
    let n = 0;
    for (const list of job.ready.values()) n += list.length;
    return n;
  }

  private launch(job: ActiveJob, provider: string, item: ClaimedItem, prompt: Prompt | undefined): void {
    const abort = new AbortController();
    this.inflight.set(item.id, { jobId: item.jobId, abort });
    job.running++;
    job.counts.queued = Math.max(0, job.counts.queued - 1);
    job.counts.running++;
    this.running++;
    this.perProvider.set(provider, (this.perProvider.get(provider) ?? 0) + 1);
    void this.run(job, item, prompt, abort.signal).then(
      (outcome) => this.finishItem(job, provider, item, outcome),
      (err) => this.deps.onError?.(err),
    );
  }

  /** One provider call through the comparison path; never throws. */
  private async run(job: ActiveJob, item: ClaimedItem, prompt: Prompt | undefined, signal: AbortSignal): Promise<ItemOutcome> {
    const { record } = job;
    const tier = this.deps.tiers[record.tier];
    const messages: ChatMessage[] = [];
    if (prompt?.system) messages.push({ role: 'system', content: prompt.system });
    messages.push({ role: 'user', content: prompt?.prompt ?? '' });
    let error: ComparisonEvents['model.error']['error'] | undefined;
    const state: ModelState = { model: item.model, status: 'running', parts: [] };
    const params = record.params ?? {};
    const result = await runModel(
      state,
      this.deps.catalogue.resolve(item.model)?.provider,
      {
        messages,
        tier: record.tier,
        signal,
        maxOutputTokens: Math.min(tier.maxOutputTokens, params.maxOutputTokens ?? Infinity),
        params: { temperature: params.temperature, topP: params.topP, stop: params.stop },
      },
      (type, data) => {
        if (type === 'model.error') error = (data as ComparisonEvents['model.error']).error;
      },
      { deltas: false },
    );
    // One object literal per outcome, the same shape for all: `{ ...base, status, … }` cost
    // ~10 µs per item (V8 takes a slow path for a spread followed by more properties).
    const outcome = (
      status: ItemOutcome['status'],
      notBefore: number | undefined,
      errorCode: string | null,
      errorMessage: string | null,
      retryable: boolean | null,
      suggestedAction: string | null,
    ): ItemOutcome => ({
      id: item.id,
      status,
      notBefore,
      text: result.text,
      finishReason: result.finishReason ?? null,
      inputTokens: result.inputTokens ?? null,
      outputTokens: result.outputTokens ?? null,
      ttftMs: result.ttftMs ?? null,
      durationMs: result.durationMs ?? null,
      tokensPerSecond: result.tokensPerSecond ?? null,
      errorCode,
      errorMessage,
      retryable,
      suggestedAction,
    });
    if (result.status === 'ok' || result.status === 'truncated') return outcome('succeeded', undefined, null, null, null, null);
    const e: { code: string; message: string; retryable: boolean; retryAfterMs?: number | undefined } = error ?? {
      code: result.errorCode ?? 'upstream_error',
      message: result.errorMessage ?? '',
      retryable: false,
    };
    // A shutdown hands the item back to the queue: the next process runs it again.
    if (signal.aborted && signal.reason === 'shutdown') return outcome('queued', 0, null, null, null, null);
    if (shouldRetry(e, item.attempts, this.deps.config.retry)) {
      const info = itemError(e, false);
      const notBefore = Date.now() + backoffMs(item.attempts, this.deps.config.retry, e.retryAfterMs);
      return outcome('queued', notBefore, info.code, info.message, true, null);
    }
    const info = itemError(e, true);
    return outcome(e.code === 'cancelled' ? 'cancelled' : 'failed', undefined, info.code, info.message, info.retryable, info.suggestedAction);
  }

  /** The provider call is over: its slot frees now, and its outcome joins the next group commit. */
  private finishItem(job: ActiveJob, provider: string, item: ClaimedItem, outcome: ItemOutcome): void {
    this.inflight.delete(item.id);
    job.running--;
    this.running--;
    this.perProvider.set(provider, (this.perProvider.get(provider) ?? 1) - 1);
    this.pending.push({ item, outcome });
    this.scheduleFlush();
    if (!this.closed) void this.fill().catch((err) => this.deps.onError?.(err));
  }

  /** Group commit: outcomes gather for `commitDelayMs`, then one statement writes them all. */
  private scheduleFlush(): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.writing++;
      void this.flush().finally(() => {
        this.writing--;
        if (this.pending.length > 0) this.scheduleFlush();
        else this.settleIdle();
        if (!this.closed) void this.fill().catch((err) => this.deps.onError?.(err));
      });
    }, this.deps.config.commitDelayMs);
  }

  /** Writes the gathered outcomes (durable first), then tells the job's topic. */
  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    let written: Set<string>;
    try {
      written = await this.deps.queue.complete(
        this.worker,
        batch.map((b) => b.outcome),
      );
    } catch (err) {
      // Not written: the leases run out and the items run again (never reported as finished).
      this.deps.onError?.(err);
      return;
    }
    const touched = new Set<ActiveJob>();
    for (const { item, outcome } of batch) {
      const job = this.active.get(item.jobId);
      if (!job) continue;
      job.counts.running = Math.max(0, job.counts.running - 1);
      if (!written.has(item.id)) continue; // the lease was lost (cancelled, or taken over): someone else reports it
      touched.add(job);
      if (outcome.status === 'queued') {
        job.counts.queued++;
        job.exhausted.delete(item.model);
        continue;
      }
      job.counts[outcome.status]++;
      job.finishedHere++;
      const data: JobEvents['job.item'] = {
        id: item.id,
        promptIndex: item.promptIndex,
        model: item.model,
        status: outcome.status,
        attempts: item.attempts,
        error: outcome.errorCode
          ? { code: outcome.errorCode, message: outcome.errorMessage ?? '', retryable: outcome.retryable ?? false, suggestedAction: outcome.suggestedAction }
          : null,
        ttftMs: outcome.ttftMs,
        durationMs: outcome.durationMs,
        outputTokens: outcome.outputTokens,
      };
      await this.deps.hub.publish(jobTopic(item.jobId), 'job.item', data);
    }
    for (const job of touched) {
      const finished = job.counts.succeeded + job.counts.failed + job.counts.cancelled;
      if (finished >= job.record.total) await this.maybeFinish(job);
      else this.scheduleProgress(job);
    }
  }

  private progress(job: ActiveJob): Progress {
    return progressOf(job.counts, job.record.total, { finished: job.finishedHere, elapsedMs: Date.now() - job.since });
  }

  /** At most one `job.progress` per interval; the last one of a burst is never lost. */
  private scheduleProgress(job: ActiveJob): void {
    if (job.progressTimer) return;
    const wait = Math.max(0, job.lastProgress + this.deps.config.progressIntervalMs - Date.now());
    job.progressTimer = setTimeout(() => {
      job.progressTimer = undefined;
      if (!this.active.has(job.record.id)) return;
      job.lastProgress = Date.now();
      void this.deps.hub
        .publish(jobTopic(job.record.id), 'job.progress', { ...this.progress(job), status: job.record.status })
        .catch((err) => this.deps.onError?.(err));
    }, wait);
  }

  /** Ends the job when the database says every item has ended (other nodes may have run some). */
  private async maybeFinish(job: ActiveJob): Promise<void> {
    const counts = await this.deps.queue.counts(job.record.id);
    if (counts.queued > 0 || counts.running > 0) return;
    clearTimeout(job.progressTimer);
    this.active.delete(job.record.id);
    const status = finalStatus(counts);
    if (!(await this.deps.store.finish(job.record.id, status))) return;
    await publishDone(this.deps.hub, job.record.id, status, counts, job.record.total);
  }
}

/** The last two events of a run: the final progress, then `job.done`. */
export async function publishDone(hub: StreamHub, jobId: string, status: JobStatus, counts: StateCounts, total: number): Promise<void> {
  const progress = progressOf(counts, total);
  const topic = jobTopic(jobId);
  await hub.publish(topic, 'job.progress', { ...progress, status } satisfies JobEvents['job.progress']);
  await hub.publish(topic, 'job.done', { status, counts, progress } satisfies JobEvents['job.done']);
}

export { emptyCounts };
