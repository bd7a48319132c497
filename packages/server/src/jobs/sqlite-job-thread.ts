import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { SqliteHandle } from '../store/database.js';
import { DbJobQueue, outcomeRows, OUTCOME_COLUMNS, type ClaimedItem, type ItemOutcome } from './job-queue.js';
import type { JobsDb } from './tables.js';

/**
 * The thread: its own connection to the database file, the claim (with the items' prompts) and
 * the group commit of results, each in one transaction. Plain CommonJS evaluated in the thread,
 * so it runs the same from src (tests), dist or the bundle (as store/sqlite-checkpointer.ts).
 */
const WORKER = `
const { parentPort, workerData: w } = require('node:worker_threads');
const db = new (require(w.driver))(w.file, { timeout: 5000 });
db.pragma('synchronous = ' + w.synchronous);
db.pragma('wal_autocheckpoint = 0');
const claims = new Map();
const prompt = db.prepare('select prompt, system from job_prompts where job_id = ? and prompt_index = ?');
const complete = db.prepare(w.completeSql);
const ops = {
  claim: db.transaction((m) => {
    let claim = claims.get(m.limit);
    if (!claim) claims.set(m.limit, (claim = db.prepare(w.claimSql.replace('$limit', String(m.limit)))));
    const rows = claim.all(m.worker, m.now + m.leaseMs, m.now, m.jobId, m.model, m.now);
    for (const r of rows) {
      const p = prompt.get(m.jobId, r.prompt_index);
      r.prompt = p ? p.prompt : null;
      r.system = p ? p.system : null;
    }
    return rows;
  }),
  complete: db.transaction((m) => {
    const written = [];
    const width = w.width;
    for (let i = 0; i < m.rows.length; i += width) {
      const row = m.rows.slice(i, i + width);
      row.push(m.worker);
      if (complete.run(row).changes === 1) written.push(row[width - 1]);
    }
    return written;
  }),
};
parentPort.on('message', (m) => {
  if (m.op === 'stop') { db.close(); parentPort.close(); return; }
  try { parentPort.postMessage({ seq: m.seq, result: ops[m.op](m) }); }
  catch (err) { parentPort.postMessage({ seq: m.seq, error: String(err && err.message), code: err && err.code }); }
});
`;

/** The claim of a model's queued, due items in id order (the limit is a literal: a few sizes, each prepared once). */
const CLAIM_SQL = `update job_items set status = 'running', worker = ?, lease_until = ?, attempts = attempts + 1, started_at = ?
  where id in (select id from job_items where job_id = ? and model = ? and status = 'queued' and not_before <= ? order by id limit $limit)
  returning id, prompt_index, attempts`;

/** One outcome: its columns, then its id and the worker that must still hold the lease (the row's values end with the id). */
const COMPLETE_SQL = `update job_items set worker = null, lease_until = null, ${OUTCOME_COLUMNS.map((c) => `"${c}" = ?`).join(', ')}
  where id = ? and worker = ? and status = 'running'`;

interface Waiting {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/**
 * The embedded (SQLite) queue with its claims and group commits on a thread of their own: each
 * writes rows and two index entries per item, ~20 µs of the main thread's CPU per item at zero
 * provider delay (docs/benchmarks.md, "Batch jobs"). Results are committed before complete()
 * resolves, so the runner still publishes `job.item` only for committed rows; a crash loses
 * what a crash lost before (the claim or commit in progress, atomically). Everything else
 * (counts, renewals, releases, the reaper) stays on the main connection. If the thread fails,
 * the queue falls back to the main connection.
 */
export class SqliteJobQueue extends DbJobQueue {
  private thread: Worker | undefined;
  private failed = false;
  private seq = 0;
  private readonly waiting = new Map<number, Waiting>();
  private exited: Promise<void> | undefined;

  constructor(
    db: JobsDb,
    private readonly sqlite: Pick<SqliteHandle, 'file'>,
  ) {
    super(db, 'sqlite');
    // At once, not on the first claim: a restarted node resumes its jobs as soon as it listens,
    // and the thread's start (~50 ms) then overlaps the server's.
    this.started();
  }

  override async claim(jobId: string, model: string, worker: string, limit: number, leaseMs: number): Promise<ClaimedItem[]> {
    if (!this.started()) return super.claim(jobId, model, worker, limit, leaseMs);
    const rows = (await this.ask({ op: 'claim', jobId, model, worker, limit, leaseMs, now: Date.now() })) as {
      id: number;
      prompt_index: number;
      attempts: number;
      prompt: string | null;
      system: string | null;
    }[];
    return rows.map((r) => ({
      id: String(r.id),
      jobId,
      promptIndex: r.prompt_index,
      model,
      attempts: r.attempts,
      prompt: r.prompt === null ? undefined : { prompt: r.prompt, system: r.system },
    }));
  }

  override async complete(worker: string, outcomes: ItemOutcome[]): Promise<Set<string>> {
    if (outcomes.length === 0 || !this.started()) return super.complete(worker, outcomes);
    const rows: unknown[] = [];
    outcomeRows(outcomes, Date.now(), (id) => Number(id), rows, true);
    const written = (await this.ask({ op: 'complete', worker, rows })) as number[];
    return new Set(written.map(String));
  }

  /** Stops the thread and waits until it closed its connection (before the store closes its own). */
  async close(): Promise<void> {
    const thread = this.thread;
    if (!thread || !this.exited) return;
    thread.ref();
    thread.postMessage({ op: 'stop' });
    await this.exited;
  }

  /** Starts the thread if it is not running; false once it failed (then the main connection serves). */
  private started(): boolean {
    if (this.thread) return true;
    if (this.failed || !this.sqlite.file.open) return false;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const synchronous = this.sqlite.file.pragma('synchronous', { simple: true }) as number;
    const thread = new Worker(WORKER, {
      eval: true,
      workerData: { driver, file: this.sqlite.file.name, synchronous, claimSql: CLAIM_SQL, completeSql: COMPLETE_SQL, width: OUTCOME_COLUMNS.length + 1 },
    });
    thread.unref(); // referenced only while a request waits
    this.exited = new Promise((resolve) => thread.once('exit', () => resolve()));
    thread.on('message', (m: { seq: number; result?: unknown; error?: string; code?: string }) => {
      const w = this.waiting.get(m.seq);
      if (!w) return;
      this.waiting.delete(m.seq);
      if (this.waiting.size === 0) thread.unref();
      if (m.error === undefined) w.resolve(m.result);
      else w.reject(Object.assign(new Error(m.error), { code: m.code }));
    });
    const fail = (err: Error) => {
      this.failed = true;
      this.thread = undefined;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    thread.on('error', fail);
    thread.on('exit', () => fail(new Error('The job database thread exited')));
    this.thread = thread;
    return true;
  }

  private ask(message: Record<string, unknown>): Promise<unknown> {
    const thread = this.thread!;
    const seq = ++this.seq;
    if (this.waiting.size === 0) thread.ref();
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      thread.postMessage({ ...message, seq });
    });
  }
}
