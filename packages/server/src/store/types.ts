import type { TierName } from '../config/schema.js';

export type ComparisonStatus = 'running' | 'completed' | 'cancelled' | 'interrupted';
/** `interrupted`: the server stopped (crash, kill) while the model ran; its text is the last checkpoint. */
export type ModelOutcome = 'ok' | 'truncated' | 'failed' | 'cancelled' | 'interrupted';

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

/** The text a running model has streamed so far, saved so a crash keeps it. */
export interface CheckpointRecord extends Omit<ModelResultRecord, 'status'> {
  status: 'running';
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
  /** Omitted when every model's result was saved with saveModelResult already (not written twice). */
  results?: ModelResultRecord[] | undefined;
}

export interface ComparisonRecord extends ComparisonStart {
  status: ComparisonStatus;
  finishedAt?: Date | undefined;
  processingTimeMs?: number | undefined;
  /** In the order of `models`; while running, only the models that have finished. */
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
/** A flag's runtime rule as stored (the shape of `FlagRule`; the store does not interpret it). */
export interface StoredFlag {
  name: string;
  rule: { enabled: boolean; rollout: number; allow: string[]; deny: string[] };
  updatedAt: Date;
  updatedBy: string;
}

export interface OpsStore {
  loadFlags(): Promise<StoredFlag[]>;
  saveFlag(flag: StoredFlag): Promise<void>;
}

export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  /** Flags and audit (ops/). */
  readonly opsData: OpsStore;
  saveComparisonStart(start: ComparisonStart): void;
  saveComparisonEnd(id: string, end: ComparisonEnd): void;
  appendMessages(conversationId: string, messages: ConversationMessage[]): void;
  logUsage(row: UsageRecord): void;
  /** One model's final result at `position` (its index in `models`), before the comparison ends. */
  saveModelResult(comparisonId: string, position: number, result: ModelResultRecord): void;
  /** A running model's text so far; false (and nothing queued) when the write budget is spent. */
  saveCheckpoint(comparisonId: string, position: number, checkpoint: CheckpointRecord): boolean;
  /**
   * Resolves once every write queued before the call is committed (group commit). A failing
   * database is retried meanwhile; this waits for it rather than failing.
   */
  committed(): Promise<void>;
  /** False while queued writes hold more than the write budget (new work should be refused). */
  hasWriteRoom(): boolean;
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
  /**
   * Comparisons left `running` by a crash become `interrupted` (called once at start), and so
   * do their models' checkpoints (keeping the text saved so far). In a cluster only those no
   * live node runs: `ids` limits it to those comparisons (an owner's lease expired); `except`
   * spares comparisons other nodes hold, `createdBefore` those started since that list was read.
   */
  markInterrupted(opts?: { ids?: string[]; except?: string[]; createdBefore?: Date }): Promise<number>;
  monitoring(): Promise<MonitoringFigures>;

  /** Pending writes (for metrics and tests). */
  pendingWrites(): number;
  flush(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
