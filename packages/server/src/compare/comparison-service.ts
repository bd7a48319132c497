import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Config, TierName } from '../config/schema.js';
import { TributaryError } from '../errors.js';
import type { ModelCatalogue } from '../llm/catalogue.js';
import type { StreamHub } from '../streams/hub.js';
import type { LogEvent } from '../streams/types.js';
import type { ComparisonRecord, ConversationMessage, ModelResultRecord, Store } from '../store/types.js';
import { contextFor } from './context.js';
import { LocalCoordination, type ClaimedComparison, type ComparisonCoordination } from './coordination.js';
import { Checkpoints, checkStorable } from './durability.js';
import { comparisonTopic, type ComparisonEvents, type ComparisonSummary } from './events.js';
import { runModel, textOf, type ModelState, type TokenTimer } from './model-run.js';

export interface CompareRequest {
  kind: 'compare' | 'chat';
  prompt: string;
  models: string[];
  tier: TierName;
  /** Continue a stored conversation. */
  conversationId?: string | undefined;
  /** Or bring the history along (seed format); assistant turns may name their model. */
  history?: { role: 'user' | 'assistant'; content: string; modelId: string | null }[] | undefined;
  /** The seed clients' `browser_fingerprint`: identity's key for anonymous limits. */
  fingerprint?: string | undefined;
  /** Who started it: the owning user (null: anonymous) and the API key used, for ownership and usage. */
  owner?: string | null | undefined;
  keyId?: string | null | undefined;
}

export interface ComparisonHandle {
  id: string;
  conversationId: string;
  topic: string;
  /** Resolves when every model has ended and the final event is published. */
  done: Promise<ComparisonSummary & { status: 'completed' | 'cancelled'; results: ModelResultRecord[] }>;
  /** Resolves when every model has ended (its results queued); `done` follows once they are committed. */
  modelsEnded: Promise<void>;
}

/** A comparison's state as a late or resuming client should see it. */
export interface ComparisonSnapshot {
  id: string;
  conversationId: string;
  kind: 'compare' | 'chat';
  tier: TierName;
  status: ComparisonRecord['status'];
  models: { model: string; status: ModelState['status']; text: string; result?: ModelResultRecord | undefined }[];
}

interface Running {
  handle: ComparisonHandle;
  abort: AbortController;
  record: ComparisonRecord;
  states: ModelState[];
  checkpoints: Checkpoints;
}

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url')}`;

/**
 * Starts comparisons (and single-model chats), runs every model concurrently to the end
 * whatever happens to the client, publishes to the comparison's topic and records results.
 */
export class ComparisonService {
  private readonly running = new Map<string, Running>();
  /** Checkpoints by time of every running comparison: one timer while any runs. */
  private checkpointTimer: NodeJS.Timeout | undefined;
  /** Final events of interrupted comparisons being published (one per comparison, however many streams ask). */
  private readonly ending = new Map<string, Promise<LogEvent>>();

  constructor(
    private readonly deps: {
      hub: StreamHub;
      catalogue: ModelCatalogue;
      store: Store;
      config: Config['compare'];
      durability: Config['durability'];
      onError?: (err: unknown, comparisonId: string) => void;
      /** Estimated USD cost of a model's tokens, for usage rows. */
      costOf?: (model: string, inputTokens: number, outputTokens: number) => number;
      /** Which node runs which comparison (default: this one runs them all). */
      coordination?: ComparisonCoordination;
      /** A token timer per model run (the metrics), when metrics are on. */
      timeTokens?: ((model: string) => TokenTimer) | undefined;
    },
  ) {
    this.coordination = deps.coordination ?? new LocalCoordination();
  }

  private readonly coordination: ComparisonCoordination;

  /**
   * Joins the cluster: cancels asked on other nodes reach this one, and comparisons of nodes
   * that died are ended here. Then marks the comparisons a crash left `running` as interrupted —
   * only those no live node holds.
   */
  async open(): Promise<void> {
    await this.coordination.start({
      cancel: (id) => void this.cancel(id),
      lost: (id) => void this.cancel(id),
      expired: (claimed) => this.endExpired(claimed),
    });
    const listedAt = new Date();
    const except = await this.coordination.liveIds().catch(() => undefined);
    // Redis unreachable at start: leave running rows alone rather than end other nodes' comparisons.
    // Alone, every running row is a crash's: SQLite keeps whole seconds, so a comparison created
    // in the second before a quick restart would not be "before" the listing.
    if (except) await this.deps.store.markInterrupted({ except, ...(this.coordination.shared ? { createdBefore: listedAt } : {}) });
  }

  /** Validates, publishes the first event, and starts every model. Returns once the topic exists. */
  async start(request: CompareRequest): Promise<ComparisonHandle> {
    const { config, store, hub, catalogue } = this.deps;
    const prompt = request.prompt;
    if (prompt.trim() === '') throw new TributaryError('empty_prompt');
    checkStorable(prompt, request.history);
    if (!store.hasWriteRoom()) {
      throw new TributaryError('unavailable', 'The database is unavailable and the write budget is spent; retry later.', {
        dependency: 'database',
        retryAfterSeconds: this.deps.durability.retryAfterSeconds,
      });
    }
    const models = [...new Set(request.models)];
    if (models.length > config.maxModels) {
      throw new TributaryError('too_many_models', `At most ${config.maxModels} models per request; got ${models.length}.`, { max: config.maxModels });
    }
    const tier = config.tiers[request.tier];
    if (prompt.length > tier.maxInputChars) {
      throw new TributaryError('input_too_long', `The ${request.tier} tier accepts ${tier.maxInputChars} characters; got ${prompt.length}.`, {
        tier: request.tier,
        maxInputChars: tier.maxInputChars,
        inputLength: prompt.length,
      });
    }
    let history = request.history ?? [];
    if (request.conversationId) {
      const stored = await store.getConversation(request.conversationId);
      if (!stored) throw new TributaryError('conversation_not_found', `No conversation ${request.conversationId}.`);
      history = stored;
    }

    // Resolved before anything starts: an ambiguous id refuses the request (an unknown one fails its model only).
    const providers = models.map((model) => catalogue.resolve(model)?.provider);
    const id = newId('cmp');
    const conversationId = request.conversationId ?? newId('cnv');
    const topic = comparisonTopic(id);
    const createdAt = new Date();
    const contexts = models.map((model) => contextFor(model, history, prompt, config.historyMessages));
    const abort = new AbortController();
    setMaxListeners(models.length + 10, abort.signal); // every model's provider listens to this one signal
    const states: ModelState[] = models.map((model) => ({ model, status: 'running', parts: [] }));
    const record: ComparisonRecord = {
      id,
      conversationId,
      kind: request.kind,
      tier: request.tier,
      prompt,
      models,
      createdAt,
      status: 'running',
      results: [],
      owner: request.owner ?? null,
    };
    // The lease first: a node starting meanwhile must not take this running row for a crashed one.
    await this.coordination.claim({
      id,
      conversationId,
      kind: request.kind,
      tier: request.tier,
      models,
      owner: record.owner ?? null,
      createdAt: createdAt.toISOString(),
      prompt,
    });
    store.saveComparisonStart(record);

    const publish = <K extends keyof ComparisonEvents>(type: K, data: ComparisonEvents[K], final = false) => hub.publish(topic, type, data, { final });
    await publish('comparison.start', {
      comparisonId: id,
      conversationId,
      kind: request.kind,
      tier: request.tier,
      models,
      historyDropped: Math.max(0, ...contexts.map((c) => c.dropped)),
      createdAt: createdAt.toISOString(),
    });

    const started = performance.now();
    // The last model to end queues the comparison's own rows with its result, so one commit
    // makes both durable: its `done` and `comparison.done` then go out back to back.
    let unfinished = models.length;
    let ended: { status: 'completed' | 'cancelled'; summary: ComparisonSummary } | undefined;
    let modelsEnded!: () => void;
    const allEnded = new Promise<void>((resolve) => (modelsEnded = resolve));
    const end = () => {
      const results = states.map((s) => s.result!);
      const status: 'completed' | 'cancelled' = abort.signal.aborted ? 'cancelled' : 'completed';
      const finishedAt = new Date();
      const summary: ComparisonSummary = {
        inputLength: prompt.length,
        modelsRequested: models.length,
        modelsSuccessful: results.filter((r) => r.status === 'ok' || r.status === 'truncated').length,
        modelsFailed: results.filter((r) => r.status === 'failed' || r.status === 'cancelled').length,
        processingTimeMs: Math.round(performance.now() - started),
        finishedAt: finishedAt.toISOString(),
      };
      // A conversation brought by the client is stored with the new turn; a stored one already is.
      const brought = request.conversationId ? [] : (request.history ?? []);
      this.record(record, brought, results, status, finishedAt, summary, request.keyId ?? null);
      ended = { status, summary };
      modelsEnded();
    };
    const checkpoints = new Checkpoints(states, this.deps.durability.checkpointTokens, (i, state, outputTokens) =>
      store.saveCheckpoint(id, i, { model: state.model, status: 'running', text: textOf(state), outputTokens }),
    );
    const runs = states.map((state, i) =>
      runModel(
        state,
        providers[i],
        {
          messages: contexts[i]!.messages,
          maxOutputTokens: tier.maxOutputTokens,
          tier: request.tier,
          signal: abort.signal,
        },
        publish,
        {
          onText: (outputTokens) => checkpoints.onText(i, outputTokens),
          timer: this.deps.timeTokens?.(state.model),
          // Acknowledged means durable: model.done / model.error waits for this result's commit.
          beforeEnd: (result) => {
            store.saveModelResult(id, i, result);
            if (--unfinished === 0) end();
            return store.committed();
          },
        },
      ),
    );
    const done = Promise.all(runs)
      .then(async (results) => {
        const { status, summary } = ended!;
        // The comparison, its messages and usage row are committed before anyone is told it is done.
        await store.committed();
        await publish('comparison.done', { status, summary }, true);
        return { ...summary, status, results };
      })
      .finally(async () => {
        this.running.delete(id);
        if (this.running.size === 0) {
          clearInterval(this.checkpointTimer);
          this.checkpointTimer = undefined;
        }
        await this.coordination.release(id);
      });
    // Callers that stream rather than wait never await `done`; a failure must not crash the process.
    done.catch((err: unknown) => this.deps.onError?.(err, id));
    const handle: ComparisonHandle = { id, conversationId, topic, done, modelsEnded: allEnded };
    this.running.set(id, { handle, abort, record, states, checkpoints });
    this.checkpointTimer ??= setInterval(() => {
      for (const run of this.running.values()) run.checkpoints.saveDue();
    }, this.deps.durability.checkpointMs).unref();
    return handle;
  }

  /**
   * The whole answer of a non-streaming request: `done`, or — when the models have ended but
   * their commit waits on an unavailable database for longer than `ackTimeoutMs` — a 503
   * naming the comparison, whose results are stored once the database is back.
   */
  async answer(handle: ComparisonHandle): Promise<Awaited<ComparisonHandle['done']>> {
    await Promise.race([handle.modelsEnded, handle.done]);
    let timer: NodeJS.Timeout | undefined;
    const { ackTimeoutMs, retryAfterSeconds } = this.deps.durability;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new TributaryError('unavailable', 'The answer is ready but the database is unavailable; it is stored when the database is back.', {
              dependency: 'database',
              retryAfterSeconds,
              comparison_id: handle.id,
              conversation_id: handle.conversationId,
            }),
          ),
        ackTimeoutMs,
      );
    });
    try {
      return await Promise.race([handle.done, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops every model of a running comparison now. False if it is not running. */
  cancel(id: string): boolean {
    const run = this.running.get(id);
    if (!run) return false;
    run.abort.abort();
    return true;
  }

  /** Deletes a stored comparison, cancelling it first if it still runs. False if unknown. */
  async purge(id: string): Promise<boolean> {
    const run = this.running.get(id);
    if (run) {
      run.abort.abort();
      await run.handle.done;
    }
    return this.deps.store.deleteComparison(id);
  }

  isRunning(id: string): boolean {
    return this.running.has(id);
  }

  /** Where a comparison runs: this node, another node (its record), or nowhere (undefined). */
  async whereRunning(id: string): Promise<'here' | ClaimedComparison | undefined> {
    if (this.running.has(id)) return 'here';
    return this.coordination.find(id);
  }

  /** Cancels a comparison on whichever node runs it. False if none does. */
  async cancelAnywhere(id: string): Promise<boolean> {
    return this.cancel(id) || this.coordination.requestCancel(id);
  }

  /** The state of a comparison another node runs, read from its topic. */
  private async remoteSnapshot(claimed: ClaimedComparison): Promise<ComparisonSnapshot> {
    const history = await this.deps.hub.recover(comparisonTopic(claimed.id), { from: 'start' });
    const models = new Map(claimed.models.map((model) => [model, { model, status: 'running' as ModelState['status'], text: '' }]));
    for (const event of history.recovered ? history.events : []) {
      const data = event.data as { model?: string; text?: string; status?: ModelState['status'] };
      const m = data.model === undefined ? undefined : models.get(data.model);
      if (!m) continue;
      if (event.type === 'model.delta') m.text += data.text ?? '';
      else if (event.type === 'model.done' || event.type === 'model.error') m.status = data.status!;
    }
    return {
      id: claimed.id,
      conversationId: claimed.conversationId,
      kind: claimed.kind,
      tier: claimed.tier,
      status: 'running',
      models: [...models.values()],
    };
  }

  /** A dead node's comparison: its unfinished models end `interrupted` on its topic, and its rows say so. */
  private async endExpired(claimed: ClaimedComparison): Promise<void> {
    const snapshot = await this.remoteSnapshot(claimed);
    for (const m of snapshot.models) if (m.status === 'running') m.status = 'interrupted';
    const { store } = this.deps;
    // The owner may have died before its queued row reached the database: write it, then mark it.
    if (!(await store.getComparison(claimed.id))) {
      store.saveComparisonStart({ ...claimed, createdAt: new Date(claimed.createdAt), owner: claimed.owner });
    }
    await store.markInterrupted({ ids: [claimed.id] });
    await this.interruptedEnd({ ...snapshot, status: 'interrupted' });
  }

  /** Cancels a user's running comparisons and waits for them to end (erasure). */
  async cancelOwned(owner: string): Promise<void> {
    const runs = [...this.running.values()].filter((r) => r.record.owner === owner);
    for (const r of runs) r.abort.abort();
    await Promise.allSettled(runs.map((r) => r.handle.done));
  }

  /** Who owns a comparison: a user id, null (anonymous), undefined (unknown). */
  async ownerOf(id: string): Promise<string | null | undefined> {
    const run = this.running.get(id);
    if (run) return run.record.owner ?? null;
    const remote = await this.coordination.find(id);
    if (remote) return remote.owner;
    const stored = await this.deps.store.getComparison(id);
    return stored ? (stored.owner ?? null) : undefined;
  }

  /** The state of a running comparison, as of now. */
  liveSnapshot(id: string): ComparisonSnapshot | undefined {
    const run = this.running.get(id);
    if (!run) return undefined;
    const { record } = run;
    return {
      id,
      conversationId: record.conversationId,
      kind: record.kind,
      tier: record.tier,
      status: 'running',
      models: run.states.map((s) => ({ model: s.model, status: s.status, text: textOf(s), result: s.result })),
    };
  }

  /** Live state while running, stored state after; undefined if unknown. */
  async snapshot(id: string): Promise<ComparisonSnapshot | undefined> {
    const live = this.liveSnapshot(id);
    if (live) return live;
    const remote = await this.coordination.find(id);
    if (remote) return this.remoteSnapshot(remote);
    const stored = await this.deps.store.getComparison(id);
    if (!stored) return undefined;
    return {
      id,
      conversationId: stored.conversationId,
      kind: stored.kind,
      tier: stored.tier,
      status: stored.status,
      models: stored.models.map((model) => {
        const result = stored.results.find((r) => r.model === model);
        // A model of an interrupted comparison with no checkpoint had produced nothing yet.
        const missing = stored.status === 'interrupted' ? 'interrupted' : 'failed';
        return { model, status: result?.status ?? missing, text: result?.text ?? '', result };
      }),
    };
  }

  /**
   * The final event of a comparison a crash interrupted, published to its topic once (after a
   * restart its topic is new), marking every model that had not finished as interrupted.
   */
  interruptedEnd(snapshot: ComparisonSnapshot): Promise<LogEvent> {
    const { id } = snapshot;
    let ending = this.ending.get(id);
    if (!ending) {
      ending = this.publishInterruptedEnd(snapshot).finally(() => this.ending.delete(id));
      this.ending.set(id, ending);
    }
    return ending;
  }

  private async publishInterruptedEnd(snapshot: ComparisonSnapshot): Promise<LogEvent> {
    const { hub } = this.deps;
    const topic = comparisonTopic(snapshot.id);
    const existing = await hub.recover(topic, { from: 'start' });
    if (existing.finished && existing.recovered && existing.events.length > 0) return existing.events.at(-1)!;
    const stored = await this.deps.store.getComparison(snapshot.id);
    const ok = snapshot.models.filter((m) => m.status === 'ok' || m.status === 'truncated').length;
    const data: ComparisonEvents['comparison.done'] = {
      status: 'interrupted',
      interrupted: snapshot.models.filter((m) => m.status === 'interrupted').map((m) => m.model),
      summary: {
        inputLength: stored?.prompt.length ?? 0,
        modelsRequested: snapshot.models.length,
        modelsSuccessful: ok,
        modelsFailed: snapshot.models.length - ok,
        processingTimeMs: stored?.processingTimeMs ?? 0,
        finishedAt: (stored?.finishedAt ?? stored?.createdAt ?? new Date()).toISOString(),
      },
    };
    return hub.publish(topic, 'comparison.done', data, { final: true });
  }

  /** Waits for running comparisons up to `graceMs`, then cancels the rest and waits up to `graceMs` more for them to end. */
  async close(graceMs: number): Promise<void> {
    await this.finish(graceMs);
    await this.coordination.close();
  }

  private async finish(graceMs: number): Promise<void> {
    const pending = [...this.running.values()];
    if (pending.length === 0) return;
    const all = Promise.allSettled(pending.map((r) => r.handle.done));
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((resolve) => (timer = setTimeout(() => resolve('expired'), graceMs)));
    if ((await Promise.race([all, expired])) === 'expired') {
      for (const r of pending) r.abort.abort();
      // Cancelled models end at once, but each final event waits for its commit: with the
      // database down that wait lasts until the store closes (and refuses it), so stop waiting.
      const stuck = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([all, stuck]);
    }
    clearTimeout(timer);
  }

  private record(
    record: ComparisonRecord,
    broughtHistory: NonNullable<CompareRequest['history']>,
    results: ModelResultRecord[],
    status: 'completed' | 'cancelled',
    finishedAt: Date,
    summary: ComparisonSummary,
    keyId: string | null,
  ): void {
    const { store } = this.deps;
    // Each model's result was saved before its final event (beforeEnd): not written a second time.
    store.saveComparisonEnd(record.id, { status, finishedAt, processingTimeMs: summary.processingTimeMs });
    const messages: ConversationMessage[] = broughtHistory.map((m) => ({ ...m, comparisonId: record.id }));
    messages.push({ role: 'user', content: record.prompt, modelId: null, comparisonId: record.id });
    for (const r of results) {
      if (r.status === 'ok' || r.status === 'truncated') {
        messages.push({ role: 'assistant', content: r.text, modelId: r.model, comparisonId: record.id });
      }
    }
    store.appendMessages(record.conversationId, messages);
    const modelTokens: Record<string, { input: number; output: number }> = {};
    let costUsd = 0;
    for (const r of results) {
      modelTokens[r.model] = { input: r.inputTokens ?? 0, output: r.outputTokens ?? 0 };
      costUsd += this.deps.costOf?.(r.model, r.inputTokens ?? 0, r.outputTokens ?? 0) ?? 0;
    }
    store.logUsage({
      comparisonId: record.id,
      kind: record.kind,
      inputLength: summary.inputLength,
      modelsRequested: summary.modelsRequested,
      modelsSuccessful: summary.modelsSuccessful,
      modelsFailed: summary.modelsFailed,
      modelsUsed: [...record.models].sort(),
      processingTimeMs: summary.processingTimeMs,
      modelTokens,
      createdAt: finishedAt,
      owner: record.owner ?? null,
      keyId,
      costUsd,
    });
  }
}
