import type { TierName } from '../config/schema.js';

export type ComparisonStatus = 'running' | 'completed' | 'cancelled' | 'interrupted';
export type ModelOutcome = 'ok' | 'truncated' | 'failed' | 'cancelled';

export interface ModelResultRecord {
  model: string;
  status: ModelOutcome;
  text: string;
  errorCode?: string | undefined;
  errorMessage?: string | undefined;
  finishReason?: string | undefined;
  inputTokens?: number | undefined;
  outputTokens?: number | undefined;
  ttftMs?: number | undefined;
  durationMs?: number | undefined;
  tokensPerSecond?: number | undefined;
}

export interface ComparisonStart {
  id: string;
  conversationId: string;
  kind: 'compare' | 'chat';
  tier: TierName;
  prompt: string;
  models: string[];
  createdAt: Date;
  /** The user who started it (directly or by API key); null or absent for anonymous. */
  owner?: string | null | undefined;
}

export interface ComparisonEnd {
  status: Exclude<ComparisonStatus, 'running'>;
  finishedAt: Date;
  processingTimeMs: number;
  results: ModelResultRecord[];
}

export interface ComparisonRecord extends ComparisonStart {
  status: ComparisonStatus;
  finishedAt?: Date | undefined;
  processingTimeMs?: number | undefined;
  /** In the order of `models`; empty while running. */
  results: ModelResultRecord[];
}

export interface ConversationMessage {
  role: 'user' | 'assistant';
  content: string;
  /** The model that wrote an assistant message; null for user turns. */
  modelId: string | null;
  comparisonId: string;
}

export interface UsageRecord {
  comparisonId: string;
  kind: 'compare' | 'chat';
  inputLength: number;
  modelsRequested: number;
  modelsSuccessful: number;
  modelsFailed: number;
  /** Model ids, sorted; stored comma-joined in `models_used` (the seed's "most used models" query groups by it). */
  modelsUsed: string[];
  processingTimeMs: number;
  /** Per-model token counts, stored as JSON text. */
  modelTokens: Record<string, { input: number; output: number }>;
  createdAt: Date;
  owner?: string | null | undefined;
  keyId?: string | null | undefined;
  /** Estimated cost, USD. */
  costUsd?: number | undefined;
}

/** One audit trail row. Never holds prompt or completion text. */
export interface AuditRecord {
  at: Date;
  /** `user:<id>`, `key:<id>`, `anonymous`, `system`. */
  actor: string;
  action: string;
  target?: string | null | undefined;
  outcome: 'ok' | 'denied' | 'failed';
  requestId?: string | null | undefined;
  ip?: string | null | undefined;
  details?: Record<string, unknown> | undefined;
}

/** The seed checklist's three monitoring queries over the last 24 hours. */
export interface MonitoringFigures {
  averageProcessingTimeMs: number | null;
  successful: number;
  failed: number;
  successRate: number | null;
  mostUsedModels: { modelsUsed: string; usageCount: number }[];
}

/**
 * Persistence. Writes are queued and applied in order, in batches, off the streaming path;
 * reads see every write queued before them (they flush first). close() flushes.
 */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  saveComparisonStart(start: ComparisonStart): void;
  saveComparisonEnd(id: string, end: ComparisonEnd): void;
  appendMessages(conversationId: string, messages: ConversationMessage[]): void;
  logUsage(row: UsageRecord): void;
  logAudit(row: AuditRecord): void;

  getComparison(id: string): Promise<ComparisonRecord | undefined>;
  /** `owner` filters (null: anonymous ones only); absent lists all. */
  listComparisons(opts: { limit: number; conversationId?: string | undefined; owner?: string | null | undefined }): Promise<ComparisonRecord[]>;
  /** The owner of a stored conversation's comparisons: a user id, null (anonymous), undefined (unknown). */
  conversationOwner(id: string): Promise<string | null | undefined>;
  /** Removes the comparison and its results; true if it existed. */
  deleteComparison(id: string): Promise<boolean>;
  /** All messages of a conversation in order, or undefined if it has none. */
  getConversation(id: string): Promise<ConversationMessage[] | undefined>;
  /** Comparisons left `running` by a crash become `interrupted` (called once at start). */
  markInterrupted(): Promise<number>;
  monitoring(): Promise<MonitoringFigures>;

  /** Pending writes (for metrics and tests). */
  pendingWrites(): number;
  flush(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
