import type { TierName } from '../config/schema.js';
import type { FinishReason, ModelErrorCode, Usage } from '../llm/provider.js';
import type { ModelOutcome } from '../store/types.js';

/** The native event types of a comparison's topic, in the order a model emits them. */
export interface ComparisonEvents {
  'comparison.start': {
    comparisonId: string;
    conversationId: string;
    kind: 'compare' | 'chat';
    tier: TierName;
    models: string[];
    /** Earlier messages left out of some model's context by the history window. */
    historyDropped: number;
    createdAt: string;
  };
  'model.start': { model: string };
  'model.delta': { model: string; text: string };
  'model.done': {
    model: string;
    status: Extract<ModelOutcome, 'ok' | 'truncated'>;
    finishReason: FinishReason;
    usage: Usage;
    ttftMs: number;
    durationMs: number;
    tokensPerSecond: number;
  };
  'model.error': {
    model: string;
    status: Extract<ModelOutcome, 'failed' | 'cancelled'>;
    error: { code: ModelErrorCode; message: string; retryable: boolean; retryAfterMs?: number };
    ttftMs: number | null;
    durationMs: number;
    outputTokens: number;
  };
  'comparison.done': {
    /** `interrupted`: the server stopped while it ran (sent after a restart, to end its stream). */
    status: 'completed' | 'cancelled' | 'interrupted';
    summary: ComparisonSummary;
    /** With `interrupted`: the models that had not finished (their text is the last checkpoint). */
    interrupted?: string[];
  };
}

export interface ComparisonSummary {
  inputLength: number;
  modelsRequested: number;
  modelsSuccessful: number;
  modelsFailed: number;
  processingTimeMs: number;
  finishedAt: string;
}

export function comparisonTopic(id: string): string {
  return `comparison:${id}`;
}

/** The comparison id of a topic, or undefined when the topic is not a comparison's. */
export function comparisonIdOf(topic: string): string | undefined {
  return topic.startsWith('comparison:') ? topic.slice('comparison:'.length) : undefined;
}
