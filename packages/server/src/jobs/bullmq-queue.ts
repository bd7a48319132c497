import { Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import { sql } from 'kysely';
import type { Dialect } from '../store/database.js';
import { DbJobQueue, type ClaimedItem, type ItemOutcome, type JobQueue } from './job-queue.js';
import type { JobsDb } from './tables.js';
import type { StateCounts } from './types.js';

export interface BullJobQueueOptions {
  /** The node's command connection: shared by the queues (adds, lookups). */
  client: Redis;
  /** Options for the connections workers open themselves (BullMQ blocks on them). */
  connection: RedisOptions;
  /** Every BullMQ key starts with `<prefix>bull:`. */
  prefix: string;
  /** How long a fetched item stays locked without renewal (`jobs.leaseMs`). */
  leaseMs: number;
}

interface Held {
  job: Job;
  token: string;
  queue: string;
}

interface Lane {
  jobId: string;
  queue: Queue;
  worker: Worker;
  lastUsed: number;
}

/** Due rows one empty lane copies into BullMQ at a time. */
const SEED_BATCH = 1_000;

/**
 * Items dispatched through BullMQ, for a cluster on Redis and PostgreSQL. PostgreSQL stays the
 * source of truth (item state, results, attempts); BullMQ decides who runs what:
 * - one BullMQ queue ("lane") per job and model, as the runner claims by job and model; a lane
 *   is filled from the rows that are queued and due when it runs dry (BullMQ job id = item id,
 *   so nodes filling it at once add each item once);
 * - a claim fetches BullMQ jobs (locked for `leaseMs`, renewed with the leases), then takes
 *   their rows; a fetched item whose row is no longer runnable (cancelled, or finished before a
 *   crash let it stall) is dropped;
 * - a node that dies stops renewing: BullMQ's stalled-job check on the other nodes puts its
 *   items back once (`maxStalledCount: 1`), and the node that fetches one takes its row over.
 *   An item stalled twice fails (`interrupted`);
 * - outcomes are written where the row is still leased to this node (one statement, as in the
 *   database queue), so an item that finishes twice is recorded once; then its BullMQ job is
 *   removed. A row back in `queued` (retry, shutdown) reaches BullMQ again when it is due.
 */
export class BullJobQueue implements JobQueue {
  private readonly rows: DbJobQueue;
  private readonly lanes = new Map<string, Lane>();
  private readonly held = new Map<string, Held>();
  private tokens = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly db: JobsDb,
    private readonly dialect: Dialect,
    private readonly opts: BullJobQueueOptions,
  ) {
    this.rows = new DbJobQueue(db, dialect);
    // Lanes close after a while idle (each holds two connections).
    this.sweeper = setInterval(() => void this.sweep(), opts.leaseMs * 2);
    this.sweeper.unref();
  }

  async claim(jobId: string, model: string, worker: string, limit: number, leaseMs: number): Promise<ClaimedItem[]> {
    const name = laneName(jobId, model);
    const lane = this.lane(name, jobId);
    const fetched: Held[] = [];
    let seeded = false;
    while (fetched.length < limit) {
      const token = `${worker}:${++this.tokens}`;
      const job = (await lane.worker.getNextJob(token, { block: false })) as Job | undefined;
      if (job) {
        fetched.push({ job, token, queue: name });
        continue;
      }
      if (seeded || (await this.seed(lane.queue, jobId, model)) === 0) break;
      seeded = true;
    }
    if (fetched.length === 0) return [];
    const now = Date.now();
    const ids = fetched.map((h) => itemIdOf(h.job));
    // A due queued row, or a running one another node held: BullMQ gave it to us, so its lock there ran out.
    const taken = await this.db
      .updateTable('job_items')
      .set({ status: 'running', worker, lease_until: now + leaseMs, attempts: sql<number>`attempts + 1`, started_at: now })
      .where(
        'id',
        'in',
        ids.map((id) => this.key(id)),
      )
      .where((eb) =>
        eb.or([eb.and([eb('status', '=', 'queued'), eb('not_before', '<=', now)]), eb.and([eb('status', '=', 'running'), eb('worker', '!=', worker)])]),
      )
      .returning(['id', 'prompt_index', 'model', 'attempts'])
      .execute();
    const takenIds = new Set(taken.map((r) => String(r.id)));
    const drop: Held[] = [];
    for (const h of fetched) {
      const id = itemIdOf(h.job);
      if (takenIds.has(id)) this.held.set(id, h);
      else drop.push(h);
    }
    await this.discard(drop);
    return taken
      .map((r) => ({ id: String(r.id), jobId, promptIndex: r.prompt_index, model: r.model, attempts: r.attempts }))
      .sort((a, b) => Number(a.id) - Number(b.id));
  }

  /**
   * Rows whose lease ran out on another node: BullMQ re-queues the item itself (stalled check);
   * this only settles what BullMQ cannot: an item stalled twice fails, and a row whose BullMQ
   * job is gone goes back to `queued` (its lane takes it up again).
   */
  async requeueExpired(worker: string): Promise<number> {
    const expired = await this.db
      .selectFrom('job_items')
      .select(['id', 'job_id', 'model'])
      .where('status', '=', 'running')
      .where('lease_until', '<', Date.now())
      .where('worker', '!=', worker)
      .limit(SEED_BATCH)
      .execute();
    let n = 0;
    for (const row of expired) {
      const name = laneName(row.job_id, row.model);
      // Its lane's stalled check must run somewhere: on this node from now on.
      const lane = this.lane(name, row.job_id);
      const job = await lane.queue.getJob(bullIdOf(String(row.id)));
      const state = job ? await job.getState() : 'unknown';
      // Only while its lease is still out: the row may have moved on since it was read.
      const stillExpired = { id: this.key(String(row.id)), now: Date.now() };
      if (state === 'failed') {
        await this.db
          .updateTable('job_items')
          .set({
            status: 'failed',
            worker: null,
            lease_until: null,
            finished_at: Date.now(),
            error_code: 'interrupted',
            retryable: 0,
            error_message: 'The nodes running this item stopped twice; retry the job to run it again.',
          })
          .where('id', '=', stillExpired.id)
          .where('status', '=', 'running')
          .where('lease_until', '<', stillExpired.now)
          .execute();
        await job?.remove().catch(() => undefined);
        n++;
      } else if (state === 'unknown' || state === 'completed') {
        const result = await this.db
          .updateTable('job_items')
          .set({ status: 'queued', worker: null, lease_until: null })
          .where('id', '=', stillExpired.id)
          .where('status', '=', 'running')
          .where('lease_until', '<', stillExpired.now)
          .executeTakeFirst();
        n += Number(result.numUpdatedRows);
      }
    }
    return n;
  }

  async complete(worker: string, outcomes: ItemOutcome[]): Promise<Set<string>> {
    const written = await this.rows.complete(worker, outcomes);
    // Recorded (or lost to another node): either way this node is done with the BullMQ job.
    await this.discard(outcomes.map((o) => this.held.get(o.id)).filter((h): h is Held => h !== undefined));
    return written;
  }

  async renew(worker: string, leaseMs: number): Promise<void> {
    await this.rows.renew(worker, leaseMs);
    await Promise.all([...this.held.values()].map((h) => h.job.extendLock(h.token, leaseMs).catch(() => undefined)));
  }

  async release(worker: string, ids: string[]): Promise<void> {
    await this.rows.release(worker, ids);
    await this.discard(ids.map((id) => this.held.get(id)).filter((h): h is Held => h !== undefined));
  }

  /** The single-node case: rows back to `queued`; BullMQ re-queues what the dead process held. */
  releaseAll(): Promise<number> {
    return this.rows.releaseAll();
  }

  counts(jobId: string): Promise<StateCounts> {
    return this.rows.counts(jobId);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const lanes = [...this.lanes.values()];
    this.lanes.clear();
    await Promise.all(lanes.map((l) => this.closeLane(l)));
  }

  private lane(name: string, jobId: string): Lane {
    let lane = this.lanes.get(name);
    if (!lane) {
      const prefix = `${this.opts.prefix}bull`;
      const queue = new Queue(name, { connection: this.opts.client, prefix });
      // Fetches by hand (no processor); a blocking connection of its own, as BullMQ requires.
      const worker = new Worker(name, null, {
        connection: { ...this.opts.connection, maxRetriesPerRequest: null } as ConnectionOptions,
        prefix,
        autorun: false,
        lockDuration: this.opts.leaseMs,
        stalledInterval: Math.max(500, Math.floor(this.opts.leaseMs / 2)),
        maxStalledCount: 1,
      });
      queue.on('error', () => undefined);
      worker.on('error', () => undefined);
      void worker.startStalledCheckTimer().catch(() => undefined);
      lane = { jobId, queue, worker, lastUsed: 0 };
      this.lanes.set(name, lane);
    }
    lane.lastUsed = Date.now();
    return lane;
  }

  /** Copies the lane's queued, due rows into BullMQ; items already there are not added again. */
  private async seed(queue: Queue, jobId: string, model: string): Promise<number> {
    const rows = await this.db
      .selectFrom('job_items')
      .select('id')
      .where('job_id', '=', jobId)
      .where('model', '=', model)
      .where('status', '=', 'queued')
      .where('not_before', '<=', Date.now())
      .orderBy('id')
      .limit(SEED_BATCH)
      .execute();
    if (rows.length === 0) return 0;
    await queue.addBulk(
      rows.map((r) => ({
        name: 'item',
        data: {},
        opts: { jobId: bullIdOf(String(r.id)), removeOnComplete: true, removeOnFail: false },
      })),
    );
    return rows.length;
  }

  /** Removes fetched BullMQ jobs this node is done with; one whose lock was lost meanwhile is another node's now. */
  private async discard(list: Held[]): Promise<void> {
    await Promise.all(
      list.map(async (h) => {
        this.held.delete(itemIdOf(h.job));
        await h.job.moveToCompleted(null, h.token, false).catch(() => undefined);
      }),
    );
  }

  /** Closes lanes idle for a while; those of ended jobs are deleted from Redis too (a retry makes them again). */
  private async sweep(): Promise<void> {
    // An active job's lanes are claimed from at every poll.
    const idleSince = Date.now() - this.opts.leaseMs * 4;
    const busy = new Set([...this.held.values()].map((h) => h.queue));
    for (const [name, lane] of this.lanes) {
      if (lane.lastUsed > idleSince || busy.has(name)) continue;
      this.lanes.delete(name);
      try {
        const job = await this.db.selectFrom('jobs').select('status').where('id', '=', lane.jobId).executeTakeFirst();
        if (!job || ['succeeded', 'failed', 'cancelled'].includes(job.status)) await lane.queue.obliterate({ force: true });
      } catch {
        // Kept for now: the next node to sweep it, or a retry of the job, deals with it.
      }
      await this.closeLane(lane);
    }
  }

  private async closeLane(lane: Lane): Promise<void> {
    await lane.worker.close(true).catch(() => undefined);
    await lane.queue.close().catch(() => undefined);
  }

  /** Item ids are integers in the database; bigserial ones travel as strings. */
  private key(id: string): number | string {
    return this.dialect === 'postgres' ? id : Number(id);
  }
}

/** BullMQ queue names may not hold `:`; model ids may. */
function laneName(jobId: string, model: string): string {
  return `job.${jobId}.${Buffer.from(model).toString('base64url')}`;
}

/** BullMQ refuses integer custom ids. */
function bullIdOf(itemId: string): string {
  return `i${itemId}`;
}

function itemIdOf(job: Job): string {
  return String(job.id).slice(1);
}
