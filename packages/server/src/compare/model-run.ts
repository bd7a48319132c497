import { ModelError, type GenerationChunk, type GenerationRequest, type Provider } from '../llm/provider.js';
import { storedText } from '../store/text.js';
import type { ModelResultRecord } from '../store/types.js';
import type { ComparisonEvents } from './events.js';

/** Returns a promise to be awaited (a comparison's stream log), or nothing (a job's item, which keeps no deltas). */
type Publish = <K extends keyof ComparisonEvents>(type: K, data: ComparisonEvents[K]) => Promise<unknown> | void;

/** The live state of one model in a comparison (also the snapshot a late client gets). */
export interface ModelState {
  model: string;
  status: 'running' | ModelResultRecord['status'];
  /**
   * The answer's pieces so far: joined when read (a snapshot, a checkpoint, the result), rarely,
   * rather than concatenated per token — a rope grown over a whole answer's ticks took 10–100 µs
   * to flatten, against ~8 µs for a join.
   */
  parts: string[];
  result?: ModelResultRecord;
}

/** A model's text so far. */
export const textOf = (state: ModelState): string => state.parts.join('');

/** The answer as stored: its tokens were made storable one by one unless no deltas were kept. */
const answerText = (state: ModelState, hooks: ModelHooks): string => (hooks.deltas === false ? storedText(textOf(state)) : textOf(state));

/** Times a run's tokens for the metrics: made when the run starts. */
export interface TokenTimer {
  /** A token came from the provider (the first: TTFT; later ones: inter-token gaps), at `at` when it says. */
  token(at: number | undefined): void;
  /** The first token reached every subscriber: the time Tributary added to it. */
  firstPublished(): void;
}

export interface ModelHooks {
  /** After each piece of text, with the count so far (checkpoints). */
  onText?(outputTokens: number): void;
  /** The metrics' timer of this run (none when metrics are off). */
  timer?: TokenTimer | undefined;
  /** Makes the result durable; the final `model.done` / `model.error` waits for it. */
  beforeEnd?(result: ModelResultRecord): Promise<void>;
  /**
   * False when the caller keeps no deltas (a job's item): no `model.delta` is built, and the
   * answer is made storable once at the end (a surrogate pair split over two tokens survives).
   */
  deltas?: boolean;
}

/** What the token loop has gathered so far besides the text (kept when the stream fails midway). */
interface Answer {
  outputTokens: number;
  firstTokenAt: number | null;
}

/**
 * Runs one model: start, deltas, then exactly one done or error. Every provider failure
 * becomes a classified `model.error`, so one model cannot disturb the others; it throws only
 * when its result cannot be made durable (then no final event is published for it).
 */
export async function runModel(
  state: ModelState,
  provider: Provider | undefined,
  request: Omit<GenerationRequest, 'model'>,
  publish: Publish,
  hooks: ModelHooks = {},
): Promise<ModelResultRecord> {
  const { model } = state;
  const started = performance.now();
  const answer: Answer = { outputTokens: 0, firstTokenAt: null };
  let final: { type: 'model.done'; data: ComparisonEvents['model.done'] } | { type: 'model.error'; data: ComparisonEvents['model.error'] } | undefined;
  await publish('model.start', { model });
  try {
    if (!provider) throw new ModelError('invalid_model', `Unknown model: ${model}`);
    // Not `{ ...request, model }`: V8's spread followed by another property cost ~2 µs per call.
    const req = Object.assign({}, request) as GenerationRequest;
    req.model = model;
    const chunk = await readAnswer(provider.stream(req), request.signal, state, publish, hooks, answer);
    if (!chunk) throw new ModelError('upstream_error', 'The provider ended the stream without finishing it.');
    const { firstTokenAt } = answer;
    const durationMs = Math.round(performance.now() - started);
    const ttftMs = Math.round((firstTokenAt ?? performance.now()) - started);
    const genSeconds = (performance.now() - (firstTokenAt ?? started)) / 1000;
    const tokens = chunk.usage.outputTokens || answer.outputTokens;
    const done: ComparisonEvents['model.done'] = {
      model,
      status: chunk.finishReason === 'length' ? 'truncated' : 'ok',
      finishReason: chunk.finishReason,
      usage: chunk.usage,
      ttftMs,
      durationMs,
      tokensPerSecond: genSeconds > 0 ? Math.round((tokens / genSeconds) * 10) / 10 : 0,
    };
    state.status = done.status;
    state.result = {
      model,
      status: done.status,
      text: answerText(state, hooks),
      finishReason: done.finishReason,
      inputTokens: chunk.usage.inputTokens,
      outputTokens: tokens,
      ttftMs,
      durationMs,
      tokensPerSecond: done.tokensPerSecond,
    };
    final = { type: 'model.done', data: done };
  } catch (err) {
    const error = ModelError.from(err, request.signal);
    const status = error.code === 'cancelled' ? 'cancelled' : 'failed';
    const { firstTokenAt, outputTokens } = answer;
    const durationMs = Math.round(performance.now() - started);
    const ttftMs = firstTokenAt === null ? null : Math.round(firstTokenAt - started);
    state.status = status;
    state.result = {
      model,
      status,
      text: answerText(state, hooks),
      errorCode: error.code,
      errorMessage: error.message,
      outputTokens,
      durationMs,
      ...(ttftMs !== null ? { ttftMs } : {}),
    };
    final = { type: 'model.error', data: { model, status, error: error.describe(), ttftMs, durationMs, outputTokens } };
  }
  await hooks.beforeEnd?.(state.result!);
  await publish(final!.type, final!.data);
  return state.result!;
}

/**
 * The token loop, in a function of its own: an async function saves and restores its live
 * registers at every await, so the per-token cost grows with the size of the function the loop
 * sits in (inline in runModel it cost ~4k instructions per token, here ~0.4k). Returns the
 * finish chunk, or undefined when the stream ended without one.
 */
async function readAnswer(
  stream: AsyncIterable<GenerationChunk>,
  signal: AbortSignal,
  state: ModelState,
  publish: Publish,
  hooks: ModelHooks,
  answer: Answer,
): Promise<Extract<GenerationChunk, { type: 'finish' }> | undefined> {
  const deltas = hooks.deltas !== false;
  for await (const chunk of stream) {
    if (signal.aborted) throw new ModelError('cancelled');
    // Reasoning, start and tool calls (comparisons offer no tools) are not part of the answer.
    if (chunk.type === 'finish') return chunk;
    if (chunk.type !== 'delta' || chunk.text === '') continue;
    answer.firstTokenAt ??= performance.now();
    answer.outputTokens++;
    if (!deltas) {
      state.parts.push(chunk.text);
      continue;
    }
    // Streamed exactly as it will be stored (NUL and lone surrogates become U+FFFD).
    const text = storedText(chunk.text);
    state.parts.push(text);
    hooks.onText?.(answer.outputTokens);
    hooks.timer?.token(chunk.at);
    const published = publish('model.delta', { model: state.model, text });
    if (published) await published; // no await per token when nothing is written
    if (answer.outputTokens === 1) hooks.timer?.firstPublished();
  }
  return undefined;
}
