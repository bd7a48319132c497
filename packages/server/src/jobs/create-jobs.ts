import type { Kysely } from 'kysely';
import type { Config } from '../config/schema.js';
import type { ModelCatalogue } from '../llm/catalogue.js';
import type { Database, Dialect, SqliteHandle } from '../store/database.js';
import type { StreamHub } from '../streams/hub.js';
import type { BullJobQueueOptions } from './bullmq-queue.js';
import { DbJobQueue, type JobQueue } from './job-queue.js';
import { JobRunner } from './job-runner.js';
import { JobService } from './job-service.js';
import { JobStore } from './job-store.js';
import { SqliteJobQueue } from './sqlite-job-thread.js';
import { jobsDb } from './tables.js';

/**
 * Jobs in the store's database (jobs, items, results); items dispatched by the database's leases,
 * or through BullMQ when the node has Redis.
 */
export async function createJobs(deps: {
  db: Kysely<Database>;
  dialect: Dialect;
  /** SQLite: the store's handle; claims and results then run on a thread of their own. */
  sqlite?: Pick<SqliteHandle, 'file'> | undefined;
  hub: StreamHub;
  catalogue: ModelCatalogue;
  config: Config;
  onError?: (err: unknown) => void;
  redis?: Omit<BullJobQueueOptions, 'leaseMs'> | undefined;
}) {
  const db = jobsDb(deps.db);
  const store = new JobStore(db, deps.dialect);
  // BullMQ loads only with Redis: it is the largest module tree a single node would never use.
  const queue: JobQueue = deps.redis
    ? new (await import('./bullmq-queue.js')).BullJobQueue(db, deps.dialect, { ...deps.redis, leaseMs: deps.config.jobs.leaseMs })
    : deps.sqlite
      ? new SqliteJobQueue(db, deps.sqlite)
      : new DbJobQueue(db, deps.dialect);
  const runner = new JobRunner({
    queue,
    store,
    hub: deps.hub,
    catalogue: deps.catalogue,
    config: deps.config.jobs,
    tiers: deps.config.compare.tiers,
    singleNode: deps.dialect === 'sqlite',
    onError: deps.onError,
  });
  const service = new JobService({ store, runner, hub: deps.hub, catalogue: deps.catalogue, config: deps.config.jobs, compare: deps.config.compare });
  return { store, queue, runner, service };
}
