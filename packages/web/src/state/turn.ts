import type { ComparisonEvent, ComparisonSnapshot, ModelResult, Tier } from '@tributary/client';

export type RunStatus = 'waiting' | 'streaming' | 'ok' | 'truncated' | 'failed' | 'cancelled';

/** One model's answer in one turn, as the card shows it. */
export interface ModelRun {
  model: string;
  status: RunStatus;
  text: string;
  /** Deltas received: the live output-token count (the server counts one token per delta). */
  tokens: number;
  /** Local clock (ms) of the first delta, for live time-to-first-token and tokens/s. */
  firstTokenAt?: number;
  endedAt?: number;
  ttftMs?: number;
  durationMs?: number;
  tokensPerSecond?: number;
  inputTokens?: number;
  outputTokens?: number;
  finishReason?: string;
  error?: { code: string; message: string; retryable?: boolean; retryAfterMs?: number };
}

/** One prompt sent to several models: a comparison. */
export interface Turn {
  comparisonId: string;
  prompt: string;
  tier: Tier;
  models: string[];
  status: 'running' | 'completed' | 'cancelled' | 'interrupted';
  /** Local clock (ms) when the comparison started. */
  startedAt: number;
  runs: Record<string, ModelRun>;
  /** Id of the last event applied: where a reload resumes the stream. */
  lastEventId?: string;
  /** `stream`: live events; `whole`: the non-streaming fallback. */
  mode: 'stream' | 'whole';
}

export const ENDED: ReadonlySet<RunStatus> = new Set(['ok', 'truncated', 'failed', 'cancelled']);

export function newTurn(init: { comparisonId: string; prompt: string; tier: Tier; models: string[]; mode: Turn['mode']; now: number }): Turn {
  const runs: Record<string, ModelRun> = {};
  for (const model of init.models) runs[model] = { model, status: 'waiting', text: '', tokens: 0 };
  return {
    comparisonId: init.comparisonId,
    prompt: init.prompt,
    tier: init.tier,
    models: init.models,
    status: 'running',
    startedAt: init.now,
    runs,
    mode: init.mode,
  };
}

/** `<topic>:<epoch>:<seq>` (the topic itself contains a colon) → epoch and seq. */
export function parseEventId(id: string): { epoch: string; seq: number } | undefined {
  const last = id.lastIndexOf(':');
  const prev = id.lastIndexOf(':', last - 1);
  if (last <= 0 || prev < 0) return undefined;
  const seq = Number(id.slice(last + 1));
  return Number.isInteger(seq) ? { epoch: id.slice(prev + 1, last), seq } : undefined;
}

/**
 * Applies one stream event to a turn, in place. Returns the models whose card changed, or
 * `null` when the event was already applied (a replay overlapping what the page holds): the
 * resume merge that keeps text from doubling after a reload.
 */
export function applyEvent(turn: Turn, event: ComparisonEvent, now: number): string[] | null {
  if (event.id !== undefined && turn.lastEventId !== undefined) {
    const seen = parseEventId(turn.lastEventId);
    const next = parseEventId(event.id);
    if (seen && next && seen.epoch === next.epoch && next.seq <= seen.seq) return null;
  }
  if (event.id !== undefined) turn.lastEventId = event.id;
  const d = event.data;
  switch (event.type) {
    case 'comparison.start':
      return [];
    case 'model.start': {
      const run = runOf(turn, d.model);
      if (run.status === 'waiting') run.status = 'streaming';
      return [run.model];
    }
    case 'model.delta': {
      const run = runOf(turn, d.model);
      run.status = 'streaming';
      run.text += d.text;
      run.tokens++;
      run.firstTokenAt ??= now;
      return [run.model];
    }
    case 'model.done': {
      const run = runOf(turn, d.model);
      Object.assign(run, {
        status: d.status,
        finishReason: d.finishReason,
        ttftMs: d.ttftMs,
        durationMs: d.durationMs,
        tokensPerSecond: d.tokensPerSecond,
        inputTokens: d.usage?.inputTokens,
        outputTokens: d.usage?.outputTokens,
        endedAt: now,
      });
      return [run.model];
    }
    case 'model.error': {
      const run = runOf(turn, d.model);
      Object.assign(run, { status: d.status, error: d.error, durationMs: d.durationMs, outputTokens: d.outputTokens, endedAt: now });
      if (d.ttftMs !== null && d.ttftMs !== undefined) run.ttftMs = d.ttftMs;
      return [run.model];
    }
    case 'comparison.done':
      turn.status = d.status;
      for (const run of Object.values(turn.runs)) if (!ENDED.has(run.status)) run.status = d.status === 'cancelled' ? 'cancelled' : 'failed';
      return turn.models;
    case 'recovery':
      // The server could not replay from our position: its snapshot replaces what we hold.
      if (d.recovered === false && d.snapshot) {
        applySnapshot(turn, d.snapshot, now);
        return turn.models;
      }
      return [];
    default:
      return [];
  }
}

/** Replaces the turn's state by the server's (a stored comparison, or a snapshot on failed recovery). */
export function applySnapshot(turn: Turn, snapshot: ComparisonSnapshot, now: number): void {
  for (const m of snapshot.models) {
    const run = runOf(turn, m.model);
    run.text = m.text;
    if (m.result) applyResult(run, m.result, now);
    else run.status = m.status === 'running' ? 'streaming' : m.status;
    run.tokens = run.outputTokens ?? run.tokens;
  }
  if (snapshot.status !== 'running') turn.status = snapshot.status;
}

export function applyResult(run: ModelRun, r: ModelResult, now: number): void {
  run.status = r.status;
  run.text = r.text;
  run.endedAt ??= now;
  if (r.ttftMs !== undefined) run.ttftMs = r.ttftMs;
  if (r.durationMs !== undefined) run.durationMs = r.durationMs;
  if (r.tokensPerSecond !== undefined) run.tokensPerSecond = r.tokensPerSecond;
  if (r.inputTokens !== undefined) run.inputTokens = r.inputTokens;
  if (r.outputTokens !== undefined) run.outputTokens = r.outputTokens;
  if (r.finishReason !== undefined) run.finishReason = r.finishReason;
  if (r.errorCode) run.error = { code: r.errorCode, message: r.errorMessage ?? r.errorCode };
}

function runOf(turn: Turn, model: string): ModelRun {
  let run = turn.runs[model];
  if (!run) {
    run = { model, status: 'waiting', text: '', tokens: 0 };
    turn.runs[model] = run;
    if (!turn.models.includes(model)) turn.models.push(model);
  }
  return run;
}

/** Live figures for a card: measured locally while streaming, the server's once ended. */
export function liveStats(run: ModelRun, turn: Pick<Turn, 'startedAt'>, now: number) {
  const ended = ENDED.has(run.status);
  const ttftMs = run.ttftMs ?? (run.firstTokenAt !== undefined ? Math.max(0, run.firstTokenAt - turn.startedAt) : undefined);
  const elapsedMs = ended && run.durationMs !== undefined ? run.durationMs : Math.max(0, (run.endedAt ?? now) - turn.startedAt);
  const generating = run.firstTokenAt !== undefined ? ((run.endedAt ?? now) - run.firstTokenAt) / 1000 : 0;
  const tokensPerSecond = ended && run.tokensPerSecond !== undefined ? run.tokensPerSecond : generating > 0.05 ? run.tokens / generating : undefined;
  return { ttftMs, elapsedMs, tokensPerSecond, outputTokens: run.outputTokens ?? run.tokens, inputTokens: run.inputTokens };
}
