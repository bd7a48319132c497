import type { Report } from '@tributary/client/verify';
import { SseParser } from '@tributary/client';

/** One `ops.snapshot` from the server's `ops:metrics` feed (the fields the dashboard reads). */
export interface OpsSnapshot {
  at: number;
  ttftMs: { p50: number | null; p95: number | null; p99: number | null; samples: number };
  gapMs: { p50: number | null; p95: number | null; p99: number | null };
  addedMsP95: number | null;
  errorRatePercent: number | null;
  errorsByCode: Record<string, number>;
  tokensPerSecond: number;
  eventsPerSecond: number;
  connections: Record<string, number>;
  connectionAttempts: number;
  connectionSuccesses: number;
  reconnects: number;
  rateLimited: number;
  memory: { rssBytes: number; heapUsedBytes: number };
  eventLoopDelayMsP99: number;
  models: Array<{ model: string; runs: number; errors: number; lastTtftMs: number | null }>;
  jobs: { queuedItems: number; runningItems: number; activeJobs: number } | null;
  flags: Array<{ name: string; enabled: boolean; rollout: number; allow: string[]; deny: string[] }>;
  alerts: Array<{
    name: string;
    description: string;
    state: 'ok' | 'firing' | 'resolved';
    value: number | null;
    threshold: number;
    unit: string;
    since: string | null;
  }>;
}

export type FeedState = 'signed_out' | 'connecting' | 'live' | 'unauthorized' | 'reconnecting';

const TOKEN_KEY = 'tributary.adminToken';
/** Snapshots kept for the charts (at the default 2 s: the last 5 minutes). */
export const HISTORY = 150;

/**
 * The dashboard's state outside React: the admin token (this tab's sessionStorage only), the
 * server's snapshot feed over SSE with the token as a bearer, and flag changes.
 */
export class OpsSession {
  snapshot: { state: FeedState; history: OpsSnapshot[]; error?: string } = { state: 'signed_out', history: [] };
  private token = '';
  private abort: AbortController | undefined;
  private readonly listeners = new Set<() => void>();
  private retry: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly baseUrl = '') {
    try {
      this.token = sessionStorage.getItem(TOKEN_KEY) ?? '';
    } catch {
      this.token = '';
    }
    if (this.token) this.connect();
  }

  listen = (l: () => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  getSnapshot = () => this.snapshot;

  signIn(token: string): void {
    this.token = token.trim();
    try {
      sessionStorage.setItem(TOKEN_KEY, this.token);
    } catch {
      // storage unavailable: this page view only
    }
    this.set({ history: [] });
    this.connect();
  }

  async setFlag(name: string, rule: { enabled: boolean; rollout: number }): Promise<void> {
    const res = await fetch(`${this.baseUrl}/v1/admin/flags/${encodeURIComponent(name)}`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(rule),
    });
    if (!res.ok) {
      const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
      throw new Error(`${body.code ?? res.status}: ${body.message ?? 'flag change refused'}`);
    }
  }

  /** Runs `tributary verify --profile smoke` on the server against itself (one run at a time). */
  async runVerify(): Promise<Report> {
    const res = await fetch(`${this.baseUrl}/v1/admin/verify`, { method: 'POST', headers: { Authorization: `Bearer ${this.token}` } });
    const body = (await res.json().catch(() => ({}))) as Report & { code?: string; message?: string };
    if (!res.ok) throw new Error(`${body.code ?? res.status}: ${body.message ?? 'verify refused'}`);
    return body;
  }

  close(): void {
    clearTimeout(this.retry);
    this.abort?.abort();
  }

  private connect(): void {
    this.close();
    const abort = (this.abort = new AbortController());
    this.set({ state: this.snapshot.history.length ? 'reconnecting' : 'connecting' });
    void this.run(abort.signal)
      .catch(() => undefined)
      .then(() => {
        if (abort.signal.aborted || this.snapshot.state === 'unauthorized') return;
        this.set({ state: 'reconnecting' });
        this.retry = setTimeout(() => this.connect(), 1_000);
      });
  }

  private async run(signal: AbortSignal): Promise<void> {
    const headers = { Authorization: `Bearer ${this.token}`, Accept: 'text/event-stream' };
    const res = await fetch(`${this.baseUrl}/v1/admin/ops/stream`, { headers, signal });
    if (res.status === 401 || res.status === 403) {
      const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
      this.set({ state: 'unauthorized', error: `${body.code ?? res.status}: ${body.message ?? ''}` });
      return;
    }
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    // The feed starts with the recent snapshots the server keeps: they replace what was shown.
    this.set({ state: 'live', error: undefined, history: [] });
    const parser = new SseParser();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const fresh: OpsSnapshot[] = [];
      for (const m of parser.push(value)) {
        if (m.event !== 'ops.snapshot') continue;
        fresh.push(JSON.parse(m.data) as OpsSnapshot);
      }
      if (fresh.length) this.set({ history: [...this.snapshot.history, ...fresh].slice(-HISTORY) });
    }
  }

  private set(patch: Partial<OpsSession['snapshot']>): void {
    this.snapshot = { ...this.snapshot, ...patch };
    for (const l of this.listeners) l();
  }
}
