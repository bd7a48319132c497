import type { WebSocketConstructor } from '../realtime/types.js';

export type Profile = 'smoke' | 'full' | 'load';
export type CheckStatus = 'pass' | 'fail' | 'skip';
export type Value = number | string | boolean | null;

/** A bound on one measured value: `max` (value must be below) or `min` (value must be above). */
export interface Bound {
  max?: number;
  min?: number;
}

export interface CheckResult {
  id: string;
  title: string;
  /** A failed required check makes the run (and the CLI's exit code) fail. */
  required: boolean;
  status: CheckStatus;
  /** Why it passed, failed or was skipped, in one sentence with the numbers that decided it. */
  reason: string;
  measured: Record<string, Value>;
  thresholds: Record<string, Bound>;
  durationMs: number;
}

/** The checklists' targets; every one can be overridden from a thresholds file. */
export interface Thresholds {
  /** End-to-end time to first token, p95. */
  ttftMs: number;
  /** Gap between two tokens of one model, p95. */
  interTokenMs: number;
  /** Share of load streams that ended in an error (0–1). */
  errorRate: number;
  /** Share of load streams that completed (0–1). */
  completionRate: number;
  /** Share of load streams whose response started (0–1). */
  connectionSuccessRate: number;
  /** From the cancel request to the model's cancelled end. */
  cancelMs: number;
  /** From a publish request to the event's arrival, p95. */
  eventLatencyMs: number;
  /** Share of a stream's tokens that arrived in bursts (10+ in one network read, worth > 100 ms of the stream). */
  burstShare: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  ttftMs: 1_000,
  interTokenMs: 50,
  errorRate: 0.01,
  completionRate: 0.95,
  connectionSuccessRate: 0.95,
  cancelMs: 1_000,
  eventLatencyMs: 100,
  burstShare: 0.5,
};

export interface VerifyOptions {
  baseUrl: string;
  /** Sent as `Authorization: Bearer` (API key, access token or admin token) and `?access_token=` on WebSockets. */
  token?: string;
  /** Extra headers on every HTTP request (e.g. a session `Cookie`). */
  headers?: Record<string, string>;
  /** Publishes the realtime checks' events (default: `token`). */
  publishKey?: string;
  /** Bearer for `/metrics` (default: `token`). */
  metricsToken?: string;
  /** Models to compare (default: up to three from the catalogue, demo ones first). */
  models?: string[];
  profile?: Profile;
  /** Load profile: streams in flight (default 100). */
  concurrency?: number;
  /** Load profile: seconds new streams are started for (default 10). */
  durationS?: number;
  thresholds?: Partial<Thresholds>;
  /** Runs the checks that spend the caller's quota (rate limiting). */
  allowDestructive?: boolean;
  /** Only these check ids (default: the profile's). */
  only?: string[];
  /** Defaults to `globalThis.WebSocket`, else the `ws` package. */
  WebSocket?: WebSocketConstructor;
  fetch?: typeof fetch;
  /** One line on what is running now (for a live progress line). */
  onProgress?: (line: string) => void;
  /** Each check as it ends. */
  onCheck?: (check: CheckResult) => void;
}

export interface LoadSummary {
  concurrency: number;
  durationS: number;
  /** Milliseconds between scheduled stream starts (open loop: never waits for a stream to end). */
  intervalMs: number;
  attempted: number;
  connected: number;
  completed: number;
  maxInFlight: number;
  reconnects: number;
  events: number;
  eventsPerSecond: number;
  wallMs: number;
  ttftMs: Percentiles;
  interTokenMs: Percentiles;
  errorsByClass: Record<string, number>;
  successRate: number;
  completionRate: number;
  connectionSuccessRate: number;
  errorRate: number;
  /** The verify process's own CPU while the load ran: its overhead next to its results. */
  clientCpuMs: number;
  clientCores: number;
}

export interface Percentiles {
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

export interface Report {
  tool: 'tributary-verify';
  schemaVersion: 1;
  baseUrl: string;
  profile: Profile;
  startedAt: string;
  durationMs: number;
  passed: boolean;
  summary: { pass: number; fail: number; skip: number; requiredFailed: string[] };
  thresholds: Thresholds;
  checks: CheckResult[];
  load: LoadSummary | null;
  /** The verify client's own cost over the whole run. */
  client: { cpuMs: number; wallMs: number; cores: number };
}
