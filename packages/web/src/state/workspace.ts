import { TributaryApiError, type ComparisonRecord, type Tier, type TributaryClient } from '@tributary/client';
import { FrameBatcher, type FrameScheduler } from './frame-batcher';
import { KEYS, loadJson, saveJson } from './storage';
import { applyEvent, applyResult, applySnapshot, newTurn, type Turn } from './turn';

/** A conversation in the workspace: its turns (comparisons) and the cards the user hid. */
export interface Session {
  conversationId?: string;
  turns: Turn[];
  hidden: string[];
}

type Listener = () => void;

const POLL_MS = 1000;
const PERSIST_MS = 400;

/**
 * The workspace's state outside React. Stream events are applied as they arrive; cards are
 * told once per animation frame (FrameBatcher), and only the cards whose model changed.
 * The session (with each running comparison's last event id) is kept in localStorage so a
 * reload resumes every stream where it was.
 */
export class Workspace {
  session: Session;
  /** A sentence for the status bar (fallback mode, errors of the last action). */
  notice: string | undefined;
  private version = 0;
  private readonly modelVersions = new Map<string, number>();
  private readonly listeners = new Set<Listener>();
  private readonly modelListeners = new Map<string, Set<Listener>>();
  private readonly streams = new Map<string, AbortController>();
  private readonly batcher: FrameBatcher<string>;
  private persistTimer: ReturnType<typeof setTimeout> | undefined;
  private resumed = false;

  constructor(
    private readonly client: TributaryClient,
    private readonly opts: { streaming: () => boolean; schedule?: FrameScheduler; storage?: boolean } = { streaming: () => true },
  ) {
    this.batcher = new FrameBatcher((models) => this.notifyModels(models), opts.schedule);
    this.session = opts.storage === false ? emptySession() : loadJson<Session>(KEYS.session, emptySession());
    if (!Array.isArray(this.session.turns)) this.session = emptySession();
  }

  // --- subscriptions (for useSyncExternalStore) ---

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getVersion = (): number => this.version;

  subscribeModel(model: string, listener: Listener): () => void {
    let set = this.modelListeners.get(model);
    if (!set) this.modelListeners.set(model, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  modelVersion(model: string): number {
    return this.modelVersions.get(model) ?? 0;
  }

  // --- queries ---

  /** Every model of the conversation, in order of first appearance: one card each. */
  models(): string[] {
    const seen = new Set<string>();
    for (const turn of this.session.turns) for (const m of turn.models) seen.add(m);
    return [...seen];
  }

  running(): Turn | undefined {
    return this.session.turns.find((t) => t.status === 'running');
  }

  // --- actions ---

  /** Streams every comparison the page was following before a reload, from its last event. */
  resume(): void {
    if (this.resumed) return;
    this.resumed = true;
    for (const turn of this.session.turns) {
      if (turn.status !== 'running') continue;
      if (turn.mode === 'stream' && !turn.comparisonId.startsWith('pending')) void this.follow(turn);
      else turn.status = 'interrupted'; // a non-streaming answer cannot be picked up again
    }
    this.changed();
  }

  /** Sends a prompt (a follow-up when the session has turns) to `models`. Throws the API's error. */
  async send(request: { prompt: string; models: string[]; tier: Tier }): Promise<void> {
    const conversationId = this.session.conversationId;
    const body = { ...request, ...(conversationId ? { conversationId } : {}) };
    if (this.opts.streaming()) {
      const started = await this.client.start(body);
      this.session.conversationId = started.conversationId;
      const turn = newTurn({ ...request, comparisonId: started.id, mode: 'stream', now: Date.now() });
      this.session.turns.push(turn);
      this.changed(true);
      void this.follow(turn);
      return;
    }
    const turn = newTurn({ ...request, comparisonId: `pending-${Date.now()}`, mode: 'whole', now: Date.now() });
    for (const run of Object.values(turn.runs)) run.status = 'streaming';
    this.session.turns.push(turn);
    this.changed(true);
    try {
      const whole = await this.client.compareWhole(body);
      turn.comparisonId = whole.comparison_id;
      this.session.conversationId = whole.conversation_id;
      for (const model of turn.models) {
        const error = whole.errors[model];
        const run = turn.runs[model]!;
        applyResult(
          run,
          error
            ? { model, status: 'failed', text: '', errorCode: error.code, errorMessage: error.message }
            : { model, status: 'ok', text: whole.results[model] ?? '' },
          Date.now(),
        );
      }
      turn.status = 'completed';
      // The stored record adds what the seed answer lacks: timings, tokens, truncation.
      applySnapshot(turn, await this.client.get(whole.comparison_id), Date.now());
    } catch (err) {
      if (turn.comparisonId.startsWith('pending')) {
        this.session.turns = this.session.turns.filter((t) => t !== turn);
        this.changed(true);
        throw err;
      }
    }
    this.changed(true, turn.models);
  }

  /** Explicit stop: the server cancels every model; the stream then reports them cancelled. */
  async cancel(): Promise<void> {
    const turn = this.running();
    if (!turn || turn.mode !== 'stream') return;
    await this.client.cancel(turn.comparisonId);
  }

  /** Reopens a stored conversation (every comparison of it), following any still running. */
  async open(record: Pick<ComparisonRecord, 'conversationId'>): Promise<void> {
    const records = await this.client.list({ conversationId: record.conversationId, limit: 200 });
    this.detach();
    const now = Date.now();
    const turns = records.reverse().map((r) => {
      const turn = newTurn({ comparisonId: r.id, prompt: r.prompt, tier: r.tier, models: r.models, mode: 'stream', now: Date.parse(r.createdAt) || now });
      turn.status = r.status;
      for (const result of r.results)
        applyResult(turn.runs[result.model] ?? (turn.runs[result.model] = { model: result.model, status: 'waiting', text: '', tokens: 0 }), result, now);
      return turn;
    });
    this.session = { conversationId: record.conversationId, turns, hidden: [] };
    this.notice = undefined;
    this.changed(true, this.models());
    for (const turn of turns) if (turn.status === 'running') void this.follow(turn);
  }

  /** Starts a new conversation. Streams of the old one stop here but keep running on the server. */
  clear(): void {
    this.detach();
    this.session = emptySession();
    this.notice = undefined;
    this.changed(true, this.models());
  }

  /** Forgets a comparison the server deleted. */
  forget(comparisonId: string): void {
    if (!this.session.turns.some((t) => t.comparisonId === comparisonId)) return;
    this.streams.get(comparisonId)?.abort();
    this.session.turns = this.session.turns.filter((t) => t.comparisonId !== comparisonId);
    if (this.session.turns.length === 0) this.session = emptySession();
    this.changed(true, this.models());
  }

  setHidden(model: string, hidden: boolean): void {
    const set = new Set(this.session.hidden);
    if (hidden) set.add(model);
    else set.delete(model);
    this.session.hidden = [...set];
    this.changed(true);
  }

  /** Writes the session now (the page is going away). */
  persist(): void {
    clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    this.batcher.run();
    if (this.opts.storage !== false) saveJson(KEYS.session, this.session);
  }

  // --- streaming ---

  private async follow(turn: Turn): Promise<void> {
    const abort = new AbortController();
    this.streams.set(turn.comparisonId, abort);
    try {
      try {
        await this.read(turn, abort.signal);
      } catch (err) {
        // A position the server does not know (another server, a wiped log): start over.
        if (!(err instanceof TributaryApiError && err.code === 'invalid_last_event_id')) throw err;
        Object.assign(turn, newTurn({ ...turn, now: turn.startedAt }));
        this.changed(true, turn.models);
        await this.read(turn, abort.signal);
      }
      if (turn.status === 'running' && !abort.signal.aborted) applySnapshot(turn, await this.client.get(turn.comparisonId), Date.now());
    } catch (err) {
      if (abort.signal.aborted) return;
      if (err instanceof TributaryApiError && err.code === 'comparison_not_found') {
        turn.status = 'interrupted';
        this.notice = `Comparison ${turn.comparisonId} is no longer on the server.`;
      } else {
        this.notice = 'Streaming is unavailable: showing each answer when it is complete.';
        this.changed(true);
        await this.poll(turn, abort.signal);
      }
    } finally {
      if (this.streams.get(turn.comparisonId) === abort) this.streams.delete(turn.comparisonId);
      if (!abort.signal.aborted) this.changed(true, turn.models);
    }
  }

  private async read(turn: Turn, signal: AbortSignal): Promise<void> {
    for await (const event of this.client.stream(turn.comparisonId, { ...(turn.lastEventId ? { lastEventId: turn.lastEventId } : {}), signal })) {
      const changed = applyEvent(turn, event, Date.now());
      if (changed === null) continue;
      if (event.type === 'comparison.done' || event.type === 'recovery') this.changed(true, changed);
      else {
        this.batcher.mark(changed);
        this.schedulePersist();
      }
    }
  }

  /** The fallback when the stream cannot be read: the comparison's state, every second. */
  private async poll(turn: Turn, signal: AbortSignal): Promise<void> {
    while (!signal.aborted && turn.status === 'running') {
      try {
        applySnapshot(turn, await this.client.get(turn.comparisonId), Date.now());
        this.changed(false, turn.models);
      } catch (err) {
        if (err instanceof TributaryApiError) {
          turn.status = 'interrupted';
          return;
        }
      }
      if (turn.status === 'running') await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  private detach(): void {
    for (const abort of this.streams.values()) abort.abort();
    this.streams.clear();
  }

  // --- notification ---

  /** `structure`: turns or statuses changed (the page re-renders); `models`: cards to redraw now. */
  private changed(structure = true, models: Iterable<string> = []): void {
    this.notifyModels(new Set(models));
    if (structure) {
      this.version++;
      for (const l of [...this.listeners]) l();
    }
    this.persist();
  }

  private notifyModels(models: ReadonlySet<string>): void {
    for (const model of models) {
      this.modelVersions.set(model, this.modelVersion(model) + 1);
      for (const l of [...(this.modelListeners.get(model) ?? [])]) l();
    }
  }

  private schedulePersist(): void {
    this.persistTimer ??= setTimeout(() => this.persist(), PERSIST_MS);
  }
}

function emptySession(): Session {
  return { turns: [], hidden: [] };
}
