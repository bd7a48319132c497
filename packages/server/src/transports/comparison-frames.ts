import type { ComparisonEvents } from '../compare/events.js';
import type { ComparisonSnapshot } from '../compare/comparison-service.js';
import type { RecoveryInfo } from '../streams/hub.js';
import { formatEventId } from '../streams/event-id.js';
import type { LogEvent } from '../streams/types.js';
import { encodeSseFrame, encodeSsePosition } from './sse-frame.js';
import { encodeOnce } from '../streams/encode-once.js';

/** Two wire formats for a comparison topic: the native one and the seed's `/compare-stream` one. */
export interface ComparisonFrames {
  event(event: LogEvent): string;
  /** Said once when a client resumes (or could not): `recovered` true/false, and state if false. */
  recovery(info: RecoveryInfo, snapshot?: ComparisonSnapshot): string;
  /** `retry:` rides on the first frame instead of a frame of its own. */
  inlineRetry?: boolean;
}

const idOf = (e: LogEvent) => formatEventId(e.topic, e);

/** `event: <type>`, `id:`, `data: <payload JSON>`. */
export const nativeFrames: ComparisonFrames = {
  event: encodeOnce((e) => encodeSseFrame({ id: idOf(e), event: e.type, data: JSON.stringify(e.data) })),
  recovery: (info, snapshot) => encodeSseFrame({ event: 'recovery', data: JSON.stringify({ ...info, ...(snapshot ? { snapshot } : {}) }) }),
};

/**
 * The seed contract: unnamed events whose JSON `type` is start/chunk/done/complete. CompareAI's
 * app keeps only frames that start with `data: ` and JSON-parses all that follows, so the data
 * frame is that line alone and its position follows in a frame of its own (data first: a cut
 * between them replays the event rather than skipping it).
 */
export const seedFrames: ComparisonFrames = {
  event: encodeOnce((e) => encodeSseFrame({ data: JSON.stringify(toSeed(e)) }) + encodeSsePosition(idOf(e))),
  inlineRetry: true,
  recovery: (info, snapshot) => encodeSseFrame({ data: JSON.stringify({ type: 'recovery', ...info, ...(snapshot ? { snapshot } : {}) }) }),
};

export function toSeed(e: LogEvent): Record<string, unknown> {
  switch (e.type as keyof ComparisonEvents) {
    case 'comparison.start': {
      const d = e.data as ComparisonEvents['comparison.start'];
      return {
        type: 'comparison',
        comparison_id: d.comparisonId,
        conversation_id: d.conversationId,
        models: d.models,
        tier: d.tier,
        history_dropped: d.historyDropped,
      };
    }
    case 'model.start':
      return { model: (e.data as ComparisonEvents['model.start']).model, type: 'start' };
    case 'model.delta': {
      const d = e.data as ComparisonEvents['model.delta'];
      return { model: d.model, type: 'chunk', content: d.text };
    }
    case 'model.done': {
      const d = e.data as ComparisonEvents['model.done'];
      return {
        model: d.model,
        type: 'done',
        error: false,
        truncated: d.status === 'truncated',
        finish_reason: d.finishReason,
        input_tokens: d.usage.inputTokens,
        output_tokens: d.usage.outputTokens,
        ttft_ms: d.ttftMs,
        duration_ms: d.durationMs,
        tokens_per_second: d.tokensPerSecond,
      };
    }
    case 'model.error': {
      const d = e.data as ComparisonEvents['model.error'];
      return {
        model: d.model,
        type: 'done',
        error: true,
        cancelled: d.status === 'cancelled',
        error_code: d.error.code,
        error_message: d.error.message,
        retryable: d.error.retryable,
        ...(d.error.retryAfterMs !== undefined ? { retry_after_ms: d.error.retryAfterMs } : {}),
      };
    }
    case 'comparison.done': {
      const d = e.data as ComparisonEvents['comparison.done'];
      return { type: 'complete', status: d.status, metadata: seedMetadata(d.summary), ...(d.interrupted ? { interrupted: d.interrupted } : {}) };
    }
    default:
      return { type: e.type, ...(e.data as object) };
  }
}

export function seedMetadata(s: ComparisonEvents['comparison.done']['summary']): Record<string, unknown> {
  return {
    input_length: s.inputLength,
    models_requested: s.modelsRequested,
    models_successful: s.modelsSuccessful,
    models_failed: s.modelsFailed,
    timestamp: s.finishedAt,
    processing_time_ms: s.processingTimeMs,
  };
}
